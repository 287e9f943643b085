"""Video clips: sniffing, frame-by-frame reading, face tracks, clear errors on corrupt files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from tamperscope import analyze
from tamperscope.errors import InputError
from tamperscope.faces import find
from tamperscope.faces.video import read_clip, sniff_video
from tamperscope.report.html import html_report

ROOT = Path(__file__).resolve().parent.parent
needs_finder = pytest.mark.skipif(
    not find.available(), reason=f"MediaPipe's face models are not installed ({find.INSTALL}, as the README says)"
)


def _write_clip(path: Path, frames: int = 12, fps: float = 10.0) -> Path:
    """A short MJPEG AVI of the astronaut drifting right by 2 px per frame (a face tracked across frames)."""
    base = data.astronaut()[..., ::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (480, 400))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.ascontiguousarray(base[40:440, 2 * i: 2 * i + 480]))
    writer.release()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return _write_clip(tmp_path_factory.mktemp("video") / "clip.avi")


def test_sniff_video_containers(clip):
    assert sniff_video(clip.read_bytes()[:512]) == "avi"
    assert sniff_video(b"\x00\x00\x00\x18ftypisom" + bytes(500)) == "mp4"
    assert sniff_video(b"\x1a\x45\xdf\xa3" + bytes(20)) == "matroska"
    assert sniff_video(b"\xff\xd8\xff\xe0" + bytes(20)) is None


@needs_finder
def test_clip_is_read_frame_by_frame_and_the_face_tracked(clip):
    result = read_clip(clip, "avi", max_frames=6)
    assert result.frames_decoded == 12
    assert result.sampled == [0, 2, 4, 7, 9, 11]
    tracks = [t for t in result.tracks if t.score is not None]
    assert len(tracks) == 1 and len(tracks[0].observations) == 6
    xs = [o.box[0] for o in tracks[0].observations]
    assert xs[0] > xs[-1]  # the crop window moves right, so the face moves left in the frame


@needs_finder
def test_analyze_clip_gives_a_report_with_time_series(clip):
    report = analyze(str(clip))
    video = report.to_dict()["video"]
    assert video["frames_decoded"] == 12 and len(video["faces"]) == 1
    assert len(video["faces"][0]["series"]) == len(video["sampled_frames"])
    evidence = report.evidence_for("faceswap")
    # The clip's score is its face track's median, and it decides: a real face is not flagged.
    assert evidence.score == pytest.approx(video["faces"][0]["score"], abs=1e-4)  # the JSON keeps 4 decimals
    assert evidence.score < 0.5 and report.label != "edited"
    # The boundary map is the key frame's, over the square the network read around the face (1.5 box sides).
    key = next(o for o in video["faces"][0]["series"] if o["frame"] == video["key_frame"])
    x, y, w, h = key["box"]
    half = 0.75 * max(w, h) + 2
    heat = evidence.heatmap_full(report.image.shape)
    inside = np.zeros(heat.shape, bool)
    inside[max(0, int(y + h / 2 - half)): int(y + h / 2 + half), max(0, int(x + w / 2 - half)): int(x + w / 2 + half)] = True
    assert heat[~inside].max() == 0 and heat[inside].max() > 0
    assert report.image.source.endswith(f"#frame={video['key_frame']}")
    page = html_report(report)
    assert 'id="video"' in page and "Faces over time" in page
    assert "face1" in report.summary_text()


def test_without_the_face_finder_a_clip_is_still_read_and_says_why(clip, monkeypatch):
    def missing():
        raise find.FaceFinderUnavailable(f"faces are found with MediaPipe's models, which are not installed: "
                                         f"{find.INSTALL}")

    monkeypatch.setattr(find, "_finder", missing)
    report = analyze(str(clip))
    evidence = report.evidence_for("faceswap")
    assert report.to_dict()["video"]["frames_decoded"] == 12
    assert evidence.status == "not-applicable" and find.INSTALL in evidence.reason


def test_corrupt_video_gives_a_clear_error(clip, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 8)
    with pytest.raises(InputError, match="broken.mp4"):
        analyze(str(broken))
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(clip.read_bytes()[:600])
    with pytest.raises(InputError, match="truncated.avi"):
        analyze(str(truncated))


def test_cli_exit_code_on_corrupt_video(tmp_path):
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(300))
    done = subprocess.run([sys.executable, "-m", "tamperscope", "analyze", str(broken)], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert done.stderr.startswith("tamperscope: error:") and len(done.stderr.strip().splitlines()) == 1
