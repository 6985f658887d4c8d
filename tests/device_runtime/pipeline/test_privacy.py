"""Privacy filter: mask zones filled exactly, detected faces/plates blurred, full frames refused."""

from __future__ import annotations

import numpy as np
import pytest

from device_runtime.config import PrivacyConfig, Zone
from device_runtime.pipeline import _haar
from device_runtime.pipeline.privacy import CASCADE_DIR, FACE_CASCADE, PLATE_CASCADE, PrivacyFilter

cv2 = pytest.importorskip("cv2")


class FixedDetector:
    def __init__(self, faces=(), plates=()):
        self._faces, self._plates = list(faces), list(plates)
        self.calls = 0

    def faces(self, grey):
        self.calls += 1
        return list(self._faces)

    def plates(self, grey):
        return list(self._plates)


def noisy(h=120, w=200, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_mask_zones_are_filled_exactly_in_crop_coordinates():
    zone = Zone([(110, 60), (150, 60), (150, 90), (110, 90)])
    pf = PrivacyFilter(PrivacyConfig(blur_faces=False, blur_plates=False), [zone])
    img = noisy()
    out = pf.release(img, origin=(100, 50))  # the crop's top-left sits at (100, 50) in the frame
    assert out is not None
    expected = img.copy()
    expected[10:41, 10:51] = 0  # fillPoly includes both edges
    assert np.array_equal(out, expected)
    assert np.array_equal(img, noisy())  # the caller's image is untouched


def test_detected_regions_are_blurred_and_counted():
    det = FixedDetector(faces=[(20, 20, 40, 40)], plates=[(120, 70, 60, 20)])
    pf = PrivacyFilter(PrivacyConfig(), detector=det)
    img = noisy()
    out = pf.release(img)
    assert out is not None
    for x, y, w, h in [(20, 20, 40, 40), (120, 70, 60, 20)]:
        before, after = img[y:y + h, x:x + w].astype(float), out[y:y + h, x:x + w].astype(float)
        assert after.std() < before.std() / 4
    assert np.array_equal(out[100:, :100], img[100:, :100])  # away from the regions nothing changes
    assert (pf.stats.faces_blurred, pf.stats.plates_blurred, pf.stats.released) == (1, 1, 1)


def test_disabled_detection_is_not_run():
    det = FixedDetector(faces=[(0, 0, 10, 10)])
    pf = PrivacyFilter(PrivacyConfig(blur_faces=False, blur_plates=False), detector=det)
    assert pf.release(noisy()) is not None and det.calls == 0


@pytest.mark.parametrize(("allow", "refused"), [(False, True), (True, False)])
def test_full_frames_refused_unless_allowed(allow, refused):
    pf = PrivacyFilter(PrivacyConfig(allow_full_frames=allow), detector=FixedDetector(), frame_size=(200, 120))
    assert (pf.release(noisy()) is None) is refused
    assert (pf.release(noisy(), full_frame=True) is None) is refused
    assert pf.release(noisy(60, 80)) is not None  # a crop always may leave
    assert pf.stats.refused == (2 if refused else 0)


def drawn_plate() -> np.ndarray:
    img = np.full((128, 256), 60, np.uint8)
    cv2.rectangle(img, (64, 48), (192, 80), 255, -1)
    cv2.rectangle(img, (64, 48), (192, 80), 0, 2)
    cv2.putText(img, "A123BC77", (72, 72), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 0, 2)
    return img


def drawn_face() -> np.ndarray:
    f = np.full((240, 240, 3), 60, np.uint8)
    cv2.ellipse(f, (120, 120), (70, 95), 0, 0, 360, (150, 170, 200), -1)
    for x in (92, 148):
        cv2.ellipse(f, (x, 100), (16, 8), 0, 0, 360, (30, 30, 30), -1)
        cv2.line(f, (x - 18, 82), (x + 18, 82), (40, 40, 40), 5)
    cv2.line(f, (120, 105), (120, 140), (110, 120, 150), 4)
    cv2.ellipse(f, (120, 165), (25, 8), 0, 0, 360, (60, 60, 120), -1)
    return cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)


def test_shipped_plate_cascade_finds_a_drawn_plate():
    cascade = _haar.load_cascade(CASCADE_DIR / PLATE_CASCADE)
    found = _haar.detect_multiscale(drawn_plate(), cascade, min_neighbors=2)
    assert found
    x, y, w, h = found[0]
    assert 100 <= x + w / 2 <= 160 and 50 <= y + h / 2 <= 80


def test_shipped_face_cascade_finds_a_drawn_face_and_nothing_in_noise():
    cascade = _haar.load_cascade(CASCADE_DIR / FACE_CASCADE)
    # Reference: OpenCV 4.x CascadeClassifier.detectMultiScale(img, 1.1, 3) gives [[27, 26, 186, 186]].
    assert _haar.detect_multiscale(drawn_face(), cascade, min_neighbors=3) == [(27, 26, 186, 186)]
    noise = np.random.default_rng(1).integers(0, 256, (100, 100), dtype=np.uint8)
    assert _haar.detect_multiscale(noise, cascade, min_neighbors=3) == []


@pytest.mark.parametrize("slice_elements", [1, 97, 4096])
def test_slicing_the_windows_does_not_change_detections(monkeypatch, slice_elements):
    """Stages run over bounded slices of windows (memory); any slice size gives the same rectangles."""
    face = _haar.load_cascade(CASCADE_DIR / FACE_CASCADE)
    plate = _haar.load_cascade(CASCADE_DIR / PLATE_CASCADE)
    whole_face = _haar.detect_multiscale(drawn_face(), face, min_neighbors=3)
    whole_plate = _haar.detect_multiscale(drawn_plate(), plate, min_neighbors=2)
    monkeypatch.setattr(_haar, "MAX_STAGE_ELEMENTS", slice_elements)
    assert _haar.detect_multiscale(drawn_face(), face, min_neighbors=3) == whole_face == [(27, 26, 186, 186)]
    assert _haar.detect_multiscale(drawn_plate(), plate, min_neighbors=2) == whole_plate


def test_default_detector_blurs_a_plate_end_to_end():
    img = cv2.cvtColor(drawn_plate(), cv2.COLOR_GRAY2BGR)
    pf = PrivacyFilter(PrivacyConfig(blur_faces=False))
    out = pf.release(img)
    assert out is not None and pf.stats.plates_blurred >= 1
    assert out[50:78, 70:186].std() < img[50:78, 70:186].std() / 2


def test_group_rectangles_matches_opencv_semantics():
    rects = [(10, 10, 20, 20), (11, 10, 20, 20), (10, 11, 20, 21), (80, 80, 20, 20)]
    assert _haar.group_rectangles(rects, 2) == [(10, 10, 20, 20)]
    assert _haar.group_rectangles(rects, 0) == rects
