"""Python packages of the skypost catkin package (installed by catkin_python_setup)."""
from catkin_pkg.python_setup import generate_distutils_setup
from setuptools import setup

setup(
    **generate_distutils_setup(
        packages=[
            "skypost_common",
            "skypost_drone",
            "skypost_locker",
            "skypost_fleet",
            "skypost_bridge",
            "skypost_sim",
        ],
        package_dir={"": "src"},
    )
)
