"""Python packages of the skypost catkin package (installed by catkin_python_setup)."""
from catkin_pkg.python_setup import generate_distutils_setup
from setuptools import find_packages, setup

setup(
    # Every package under src/, subpackages included: an install space (the ROS Docker image) holds only these.
    **generate_distutils_setup(packages=find_packages("src"), package_dir={"": "src"})
)
