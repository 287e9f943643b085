"""Provenance detectors (c2pa, metadata, sdwm, rivagan) and the verdict classes they drive."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin

from forgeries import photo
from tamperscope import analyze
from tamperscope.detectors import create
from tamperscope.evidence import Evidence
from tamperscope.fusion import fuse
from tamperscope.image import load

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


# ---------------------------------------------------------------- C2PA, self-contained


def _certificates(tmp_path: Path) -> tuple[bytes, bytes, Path]:
    """An ES256 test CA and a leaf for signing (EKU emailProtection, as c2pa-rs requires)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tamperscope test CA"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tamperscope tests")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tamperscope test signer"),
                           x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tamperscope tests")])
    leaf = (
        x509.CertificateBuilder().subject_name(leaf_name).issuer_name(ca_name).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(ca.public_bytes(pem))
    return chain, key, anchors


def _signed(tmp_path: Path, actions: list[dict], name: str = "signed.jpg") -> tuple[Path, Path]:
    c2pa = pytest.importorskip("c2pa")
    chain, key, anchors = _certificates(tmp_path)
    source = tmp_path / f"src-{name}"
    PILImage.fromarray(photo(256, 320, seed=3)).save(source, quality=92)
    manifest = {
        "claim_generator_info": [{"name": "tamperscope-tests", "version": "1"}],
        "title": name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, key, None))
    dest = tmp_path / name
    with c2pa.Builder(manifest) as builder:
        builder.sign_file(str(source), str(dest), signer)
    return dest, anchors


CAPTURE = [{"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}]
GENERATED = [{"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}]


def test_valid_signature_is_untrusted_without_anchors_and_trusted_with_them(tmp_path):
    path, anchors = _signed(tmp_path, CAPTURE)
    plain = create("c2pa").run(load(path))
    assert plain.ok and plain.facts["signature_valid"] and not plain.facts["trusted"]
    assert plain.indicates == "authentic" and plain.score < 0.5  # an untrusted capture claim does not decide
    trusted = create("c2pa", trust_anchors=str(anchors)).run(load(path))
    assert trusted.facts["trusted"] and trusted.indicates == "authentic" and trusted.score >= 0.9


def test_flipped_byte_breaks_the_hard_binding(tmp_path):
    path, _ = _signed(tmp_path, CAPTURE)
    data = bytearray(path.read_bytes())
    data[-200] ^= 0x01  # inside the entropy-coded image data, covered by the data hash
    ev = create("c2pa").run(load(bytes(data)))
    assert ev.ok and ev.indicates == "edited" and ev.score >= 0.9
    assert any("dataHash.mismatch" in c for c in ev.facts["failure_codes"])


def test_declared_ai_generation_beats_signals_saying_authentic(tmp_path):
    path, anchors = _signed(tmp_path, GENERATED)
    report = analyze(path, params={"c2pa": {"trust_anchors": str(anchors)}})
    assert report.evidence_for("c2pa").indicates == "ai-generated"
    assert report.label == "ai-generated" and report.fusion.decided_by == "provenance"
    data = report.to_dict()
    assert data["verdict"]["class_evidence"] == ["ev:c2pa"]
    assert "outranks" in report.explanation.text()


def test_no_manifest_is_not_applicable(tmp_path):
    path = tmp_path / "plain.jpg"
    PILImage.fromarray(photo(128, 128, seed=1)).save(path, quality=90)
    ev = create("c2pa").run(load(path))
    assert ev.status == "not-applicable" and "no Content Credentials" in ev.reason
    assert create("c2pa").run(load(photo(64, 64))).status == "not-applicable"  # arrays have no file


# ---------------------------------------------------------------- fusion rule


def _ev(name, score, indicates="edited", kind="signal"):
    return Evidence(detector=name, version="1", score=score, indicates=indicates, kind=kind)


def test_provenance_outranks_signals():
    shape = (32, 32)
    capture = _ev("c2pa", 0.9, "authentic", "provenance")
    fused = fuse([capture, _ev("noise", 0.62)], shape)
    assert fused.label == "authentic" and fused.outranked == ["noise"]
    fused = fuse([_ev("c2pa", 0.97, "ai-generated", "provenance"), _ev("dq", 0.1)], shape)
    assert fused.label == "ai-generated" and fused.drivers == ["c2pa"]
    weak = _ev("metadata", 0.3, "edited", "provenance")  # a weak fact never decides alone
    assert fuse([weak], shape).label == "inconclusive"
    assert fuse([weak, _ev("dq", 0.1)], shape).label == "no-evidence"  # a low signal is no evidence, not authentic
    assert fuse([weak, _ev("npr", 0.8, "ai-generated")], shape).label == "ai-generated"
    tie = fuse([_ev("a", 0.9, "ai-generated", "provenance"), _ev("b", 0.9, "ai-edited", "provenance")], shape)
    assert tie.label == "ai-edited"  # the more specific class wins a tie


# ---------------------------------------------------------------- metadata


def _png(tmp_path, chunks: dict[str, str], name="gen.png") -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    path = tmp_path / name
    PILImage.fromarray(photo(128, 128, seed=2)).save(path, pnginfo=info)
    return path


A1111 = ("a lighthouse at dusk\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, "
         "Size: 512x512, Model: v1-5-pruned-emaonly")


def test_generator_records(tmp_path):
    ev = create("metadata").run(load(_png(tmp_path, {"parameters": A1111})))
    assert ev.indicates == "ai-generated" and ev.score >= 0.9 and "v1-5-pruned-emaonly" in ev.notes[0]
    inpaint = A1111 + ", Denoising strength: 0.75, Mask blur: 4"
    assert create("metadata").run(load(_png(tmp_path, {"parameters": inpaint}, "i.png"))).indicates == "ai-edited"
    graph = {"3": {"class_type": "KSampler"}, "4": {"class_type": "CheckpointLoaderSimple"},
             "9": {"class_type": "VAEEncodeForInpaint"}}
    comfy = create("metadata").run(load(_png(tmp_path, {"prompt": json.dumps(graph)}, "c.png")))
    assert comfy.indicates == "ai-edited" and comfy.score >= 0.9
    plain = create("metadata").run(load(_png(tmp_path, {"Comment": "holiday"}, "p.png")))
    assert plain.score == 0.0


def _jpeg_with_exif(tmp_path, make: str, software: str | None, name: str) -> Path:
    exif = PILImage.Exif()
    exif[0x010F], exif[0x0110] = make, "Test body"
    if software:
        exif[0x0131] = software
    path = tmp_path / name
    PILImage.fromarray(photo(256, 256, seed=4)).save(path, quality=85, exif=exif.tobytes())
    return path


def test_ijg_tables_with_a_camera_make_are_a_weak_fact(tmp_path):
    ev = create("metadata").run(load(_jpeg_with_exif(tmp_path, "Canon", None, "a.jpg")))
    assert ev.score == pytest.approx(0.4) and ev.indicates == "edited" and "quality 85" in ev.notes[0]
    assert fuse([ev], (8, 8)).label == "inconclusive"  # a weak fact is no verdict
    gimp = create("metadata").run(load(_jpeg_with_exif(tmp_path, "NoMaker", "GIMP 2.10", "b.jpg")))
    assert gimp.score == pytest.approx(0.3) and "GIMP" in gimp.notes[0]


def test_xmp_digital_source_type(tmp_path):
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           f'Iptc4xmpExt:DigitalSourceType="{IPTC}compositeWithTrainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>')
    path = tmp_path / "x.jpg"
    PILImage.fromarray(photo(128, 128, seed=5)).save(path, quality=90, xmp=xmp.encode())
    ev = create("metadata").run(load(path))
    assert ev.indicates == "ai-edited" and ev.score >= 0.9


def test_thumbnail_of_other_content_is_found(tmp_path):
    def thumb_bytes(pixels):
        out = io.BytesIO()
        PILImage.fromarray(pixels).resize((160, 120)).save(out, "JPEG", quality=90)
        return out.getvalue()

    from tamperscope.detectors.metadata import thumbnail_correlation

    scene = photo(480, 640, seed=6)
    other = np.ascontiguousarray(scene[::-1, ::-1])  # the same pixels, another picture
    luma = load(scene).luminance()
    assert thumbnail_correlation(thumb_bytes(scene), luma) > 0.9
    assert thumbnail_correlation(thumb_bytes(other), luma) < 0.5


# ---------------------------------------------------------------- invisible watermarks


def _imwatermark_module(name: str):
    """Load one imwatermark module by path: the package's __init__ imports torch, which analysis never needs."""
    spec = importlib.util.find_spec("imwatermark")
    if spec is None:
        pytest.skip("invisible-watermark is not installed (tamperscope[watermarks])")
    path = Path(list(spec.submodule_search_locations)[0]) / name
    module_spec = importlib.util.spec_from_file_location(f"_imwm_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_stable_diffusion_watermark_decoded_and_absent_on_the_clean_image():
    from tamperscope.detectors.invisible_wm import SD_V1_PAYLOAD, SDXL_PAYLOAD, decode_dwt_dct

    maxdct = _imwatermark_module("maxDct.py")
    rgb = photo(384, 512, seed=8)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    marked = maxdct.EmbedMaxDct(watermarks=SD_V1_PAYLOAD.tolist(), wmLen=136).encode(bgr.copy())
    reference = maxdct.EmbedMaxDct(watermarks=[], wmLen=136).decode(marked)
    assert np.array_equal(decode_dwt_dct(marked, 136), reference.astype(np.uint8))  # same decoder, vectorised
    ev = create("sdwm").run(load(np.ascontiguousarray(marked[..., ::-1])))
    assert ev.score >= 0.9 and ev.facts["decoded_text"] == "StableDiffusionV1" and ev.indicates == "ai-generated"
    clean = create("sdwm").run(load(rgb))
    assert clean.score < 0.5 and clean.facts["bit_agreement"] < 0.7
    sdxl = maxdct.EmbedMaxDct(watermarks=SDXL_PAYLOAD.tolist(), wmLen=48).encode(rgb.copy())  # diffusers: RGB
    ev = create("sdwm").run(load(sdxl))
    assert ev.facts["payload"] == "SDXL" and ev.facts["bits_agree"] == 48 and ev.score >= 0.9
    assert create("sdwm").run(load(photo(128, 128))).status == "not-applicable"


def test_rivagan_payload_agreement():
    onnxruntime = pytest.importorskip("onnxruntime")
    spec = importlib.util.find_spec("imwatermark")
    if spec is None:
        pytest.skip("invisible-watermark is not installed (tamperscope[watermarks])")
    encoder = onnxruntime.InferenceSession(str(Path(list(spec.submodule_search_locations)[0]) / "rivagan_encoder.onnx"))
    rgb = photo(160, 160, seed=9)
    payload = np.unpackbits(np.frombuffer(bytes.fromhex("5eed1234"), np.uint8)).astype(np.float32)[None]
    frame = (rgb[..., ::-1].astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None, :, None]
    out = encoder.run(None, {"frame": np.ascontiguousarray(frame), "data": payload})[0]
    marked = ((np.clip(out[0, :, 0], -1, 1).transpose(1, 2, 0) + 1) * 127.5).astype(np.uint8)[..., ::-1]
    ev = create("rivagan", expected="5eed1234").run(load(np.ascontiguousarray(marked)))
    assert ev.facts["bits_agree"] >= 30 and ev.score >= 0.5
    assert create("rivagan").run(load(rgb)).score is None  # no expected payload: reported, not decided


# ---------------------------------------------------------------- real files (skipped without /work/shared)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "dev"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data/dev")


def _shared(folder: str) -> Path:
    path = SHARED / folder
    if not (path / "manifest.csv").is_file():
        pytest.skip(f"{path} is absent (development data is not shipped with the repository)")
    return path


@pytest.mark.parametrize(
    ("name", "indicates", "code"),
    [
        ("public-testfiles/adobe-20220124-XCA.jpg", "edited", "assertion.dataHash.mismatch"),
        ("public-testfiles/adobe-20220124-E-sig-CA.jpg", "edited", "claimSignature.mismatch"),
        ("public-testfiles/adobe-20220124-E-uri-CA.jpg", "edited", "assertion.hashedURI.mismatch"),
        ("c2pa-rs/ocsp.jpg", "ai-edited", None),
    ],
)
def test_c2pa_public_testfiles(name, indicates, code):
    path = _shared("c2pa-testfiles") / name
    ev = create("c2pa").run(load(path))
    assert ev.ok and ev.indicates == indicates and ev.score >= 0.5
    if code:
        assert code in ev.facts["failure_codes"]


def test_c2pa_trust_anchors_from_the_test_folder():
    folder = _shared("c2pa-testfiles") / "c2pa-rs"
    anchors = folder / "_repo_sdk_tests_fixtures_certs_trust_test_cert_root_bundle.pem"
    plain = create("c2pa").run(load(folder / "CA.jpg"))
    trusted = create("c2pa", trust_anchors=str(anchors)).run(load(folder / "CA.jpg"))
    assert plain.facts["signature_valid"] and not plain.facts["trusted"] and trusted.facts["trusted"]
    assert create("c2pa").run(load(folder / "no_manifest.jpg")).status == "not-applicable"


def test_comfyui_outputs_are_ai_generated_and_real_inputs_are_not():
    folder = _shared("comfyui-ai")
    for path in sorted((folder / "synthetic").glob("*.png"))[:3]:
        ev = create("metadata").run(load(path))
        assert ev.indicates == "ai-generated" and ev.score >= 0.9, path.name
    for path in sorted((folder / "real_inputs").iterdir()):
        assert create("metadata").run(load(path)).score < 0.5, path.name
