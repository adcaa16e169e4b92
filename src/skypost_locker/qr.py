"""QR codes in camera images (OpenCV, no ROS): decode what a locker camera sees, render what a simulated customer
shows."""
from __future__ import annotations

import cv2
import numpy as np


class QrReader:
    """Detectors reused across frames (creating one per frame costs more than decoding).

    OpenCV's classic detector misses a few codes in a thousand (finder patterns it does not locate); the
    ArUco-based detector, tried second, reads those, so a customer is never stuck with a code the locker cannot see.
    """

    def __init__(self) -> None:
        self._detectors = [cv2.QRCodeDetector()]
        if hasattr(cv2, "QRCodeDetectorAruco"):   # OpenCV >= 4.8
            self._detectors.append(cv2.QRCodeDetectorAruco())

    def decode(self, image: np.ndarray) -> str | None:
        """The text of the QR code in `image` (mono or BGR), None when there is none or it cannot be read."""
        if image is None or image.size == 0:
            return None
        for detector in self._detectors:
            try:
                text, _points, _straight = detector.detectAndDecode(image)
            except cv2.error:
                continue
            if text:
                return text
        return None


def render_qr(text: str, width: int = 320, height: int = 240, module_px: int = 0) -> np.ndarray:
    """A mono8 camera frame: `text` as a QR code centred on a white background, modules at least 3 px."""
    code = cv2.QRCodeEncoder.create().encode(text)  # one pixel per module, quiet zone included
    side = min(width, height)
    scale = module_px or max(3, side // code.shape[0])
    if code.shape[0] * scale > side:
        raise ValueError(f"{text!r} needs {code.shape[0]} modules: too long for a {width}x{height} frame")
    big = cv2.resize(code, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    frame = np.full((height, width), 255, dtype=np.uint8)
    top, left = (height - big.shape[0]) // 2, (width - big.shape[1]) // 2
    frame[top:top + big.shape[0], left:left + big.shape[1]] = big
    return frame
