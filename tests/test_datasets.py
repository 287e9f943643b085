"""Dataset adapters: each published layout rebuilt in miniature, pairing, labels, conventions, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tamperscope.bench import datasets as ds
from tamperscope.bench.datasets import (
    ADAPTERS,
    BLACK_TAMPERED,
    GREEN_TAMPERED,
    NONBLACK_TAMPERED,
    WHITE_TAMPERED,
    BadDatasetSpec,
    BadManifest,
    DatasetNotFound,
    Sample,
    load_mask,
    open_dataset,
)
from tamperscope.errors import InputError

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"
if not DEV.is_dir():
    DEV = Path("/work/shared/data/dev")
CASIA1_DEV = DEV / "casia1"

SIZE = 16
BOX = (slice(4, 10), slice(6, 12))


def picture(path: Path, value: int = 128) -> Path:
    """A 16x16 RGB picture in the format its extension names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((SIZE, SIZE, 3), value, dtype=np.uint8)
    pixels[::2, ::3] = 255 - value
    Image.fromarray(pixels).save(path)
    return path


def white_mask(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[BOX] = 255
    Image.fromarray(mask).save(path)
    return path


def black_mask(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.full((SIZE, SIZE), 255, dtype=np.uint8)
    mask[BOX] = 0
    Image.fromarray(mask).save(path)
    return path


def expected_box() -> np.ndarray:
    box = np.zeros((SIZE, SIZE), dtype=bool)
    box[BOX] = True
    return box


def by_id(dataset) -> dict[str, Sample]:
    samples = list(dataset.samples())
    ids = [sample.id for sample in samples]
    assert len(ids) == len(set(ids)), "ids must be unique"
    return {sample.id: sample for sample in samples}


def check_common(dataset) -> None:
    """What every adapter promises: a paragraph, sorted-stable stream, valid fields."""
    text = dataset.describe()
    assert "\n" not in text and len(text) > 120
    first = [sample.id for sample in dataset.samples()]
    assert first == [sample.id for sample in dataset.samples()]
    for sample in dataset.samples():
        assert sample.label in (0, 1)
        assert sample.mask_convention in ds.MASK_CONVENTIONS
        assert sample.image.is_file(), sample
        assert sample.mask is None or sample.mask.is_file()
        assert sample.label == 1 or sample.mask is None
        assert not Path(sample.id).is_absolute()


# ----------------------------------------------------------------------------------------------


def test_registry_lists_every_published_layout():
    assert set(ADAPTERS) == {
        "columbia", "casia1", "casia2", "coverage", "nist16", "imd2020", "dso1", "korus", "cocoglide",
        "comofod", "csv", "folder", "devset",
    }
    for name, adapter in ADAPTERS.items():
        assert adapter.name == name and adapter.expected and adapter.description


def test_columbia(tmp_path):
    root = tmp_path / "Columbia"
    picture(root / "4cam_auth" / "canong3_02_sub_01.tif")
    picture(root / "4cam_auth" / "nikond70_11_sub_08.bmp")
    picture(root / "4cam_splc" / "canong3_canonxt_sub_01.tif")
    picture(root / "4cam_splc" / "canong3_nikond70_sub_05.tif")
    edge = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    edge[..., 0] = 200  # host region red
    edge[BOX] = (0, 200, 0)  # spliced region green
    edge[BOX[0].start, BOX[1]] = (0, 255, 0)  # bright green edge
    (root / "4cam_splc" / "edgemask").mkdir()
    Image.fromarray(edge).save(root / "4cam_splc" / "edgemask" / "canong3_canonxt_sub_01_edgemask.jpg", quality=90)
    dataset = open_dataset(f"columbia:{root}")
    samples = by_id(dataset)
    assert sorted(samples) == [
        "4cam_auth/canong3_02_sub_01.tif", "4cam_auth/nikond70_11_sub_08.bmp",
        "4cam_splc/canong3_canonxt_sub_01.tif", "4cam_splc/canong3_nikond70_sub_05.tif",
    ]
    spliced = samples["4cam_splc/canong3_canonxt_sub_01.tif"]
    assert spliced.label == 1 and spliced.kind == "splicing" and spliced.mask_convention == GREEN_TAMPERED
    assert spliced.mask.name == "canong3_canonxt_sub_01_edgemask.jpg"
    mask = load_mask(spliced)
    assert (mask == expected_box()).mean() > 0.97  # JPEG ringing allowed at the border
    assert samples["4cam_splc/canong3_nikond70_sub_05.tif"].mask is None  # detection only
    assert samples["4cam_auth/canong3_02_sub_01.tif"].label == 0
    check_common(dataset)


def test_columbia_nested_unpacking(tmp_path):
    root = tmp_path / "Columbia Uncompressed Image Splicing Detection"
    picture(root / "4cam_splc" / "4cam_splc" / "a_b_sub_01.tif")
    white_mask(root / "4cam_splc" / "edgemask" / "a_b_sub_01_edgemask.bmp")
    samples = list(open_dataset(f"columbia:{root}").samples())
    assert [s.id for s in samples] == ["4cam_splc/4cam_splc/a_b_sub_01.tif"]
    assert samples[0].mask.name == "a_b_sub_01_edgemask.bmp"


def make_casia1_original(root: Path) -> None:
    picture(root / "Au" / "Au_ani_0001.jpg")
    picture(root / "Au" / "Au_ani_0002.jpg")
    picture(root / "Tp" / "CM" / "Sp_S_CND_A_pla0016_pla0016_0196.jpg")
    picture(root / "Tp" / "Sp" / "Sp_D_CND_A_pla0005_pla0023_0281.jpg")
    picture(root / "Tp" / "Sp" / "Sp_D_NNN_A_ani0010_art0020_0300.jpg")  # GT lists source/target swapped
    picture(root / "Tp" / "Sp" / "Sp_D_NRN_A_sce0011_cha0011_0542.jpg")  # no mask
    gt = root / "CASIA 1.0 groundtruth"
    white_mask(gt / "CM" / "Sp_S_CND_A_pla0016_pla0016_0196_gt.png")
    white_mask(gt / "Sp" / "Sp_D_CND_A_pla0005_pla0023_0281_gt.png")
    white_mask(gt / "CM" / "Sp_S_NNN_A_art0020_ani0010_0300_gt.png")  # corrected to copy-move


def test_casia1_original_layout(tmp_path):
    root = tmp_path / "CASIA1"
    make_casia1_original(root)
    dataset = open_dataset(f"casia1:{root}")
    samples = by_id(dataset)
    assert len(samples) == 6
    assert [s.label for s in samples.values()].count(0) == 2
    cm = samples["Tp/CM/Sp_S_CND_A_pla0016_pla0016_0196.jpg"]
    assert cm.kind == "copy-move" and cm.mask.name == "Sp_S_CND_A_pla0016_pla0016_0196_gt.png"
    sp = samples["Tp/Sp/Sp_D_CND_A_pla0005_pla0023_0281.jpg"]
    assert sp.kind == "splicing" and sp.mask is not None
    swapped = samples["Tp/Sp/Sp_D_NNN_A_ani0010_art0020_0300.jpg"]
    assert swapped.mask.name == "Sp_S_NNN_A_art0020_ani0010_0300_gt.png"
    assert swapped.kind == "copy-move"  # the ground truth's corrected class wins
    assert samples["Tp/Sp/Sp_D_NRN_A_sce0011_cha0011_0542.jpg"].mask is None
    assert all(s.mask_convention == WHITE_TAMPERED for s in samples.values())
    assert np.array_equal(load_mask(cm), expected_box())
    check_common(dataset)


def test_casia1_flat_sp_folder_and_masks_folder(tmp_path):
    root = tmp_path / "casia"
    picture(root / "Au" / "Au_ani_0001.jpg")
    picture(root / "Sp" / "Sp_S_CND_A_pla0016_pla0016_0196.jpg")
    white_mask(root / "masks" / "Sp_S_CND_A_pla0016_pla0016_0196_gt.png")
    samples = by_id(open_dataset(f"casia1:{root}"))
    assert samples["Sp/Sp_S_CND_A_pla0016_pla0016_0196.jpg"].kind == "copy-move"
    assert samples["Sp/Sp_S_CND_A_pla0016_pla0016_0196.jpg"].mask is not None


def test_casia1_manifest_takes_precedence(tmp_path):
    root = tmp_path / "casia1"
    picture(root / "Au" / "Au_ani_0001.jpg")
    picture(root / "Tp" / "Sp_D_NRN_A_ant0063_nat0065_0443.jpg")
    white_mask(root / "masks" / "Sp_D_NRN_A_nat0063_nat0065_0443_gt.png")  # a typo no rule can pair
    (root / "manifest.csv").write_text(
        "image_path,mask_path,label,manipulation_type,notes\n"
        "Au/Au_ani_0001.jpg,,authentic,,\n"
        "Tp/Sp_D_NRN_A_ant0063_nat0065_0443.jpg,masks/Sp_D_NRN_A_nat0063_nat0065_0443_gt.png,tampered,splicing,typo\n"
    )
    samples = by_id(open_dataset(f"casia1:{root}"))
    tampered = samples["Tp/Sp_D_NRN_A_ant0063_nat0065_0443.jpg"]
    assert tampered.mask is not None and tampered.kind == "splicing" and tampered.label == 1
    assert samples["Au/Au_ani_0001.jpg"].label == 0


def test_casia2(tmp_path):
    root = tmp_path / "CASIA2"
    picture(root / "Au" / "Au_ani_00001.jpg")
    picture(root / "Au" / "Au_ani_00002.bmp")
    picture(root / "Tp" / "Tp_D_CRN_S_N_cha00063_art00014_11818.jpg")
    picture(root / "Tp" / "Tp_S_NRN_S_N_pla00005_pla00005_10937.tif")
    picture(root / "Tp" / "Tp_D_NNN_M_N_arc00010_nat00002_00230.tif")  # renamed in the GT (D -> S)
    gt = root / "CASIA 2 Groundtruth"
    white_mask(gt / "Tp_D_CRN_S_N_cha00063_art00014_11818_gt.png")
    white_mask(gt / "Tp_S_NRN_S_N_pla00005_pla00005_10937_gt.png")
    white_mask(gt / "Tp_S_NNN_M_N_arc00010_nat00002_00230_gt.png")
    dataset = open_dataset(f"casia2:{root}")
    samples = by_id(dataset)
    assert len(samples) == 5
    assert samples["Tp/Tp_D_CRN_S_N_cha00063_art00014_11818.jpg"].kind == "splicing"
    assert samples["Tp/Tp_S_NRN_S_N_pla00005_pla00005_10937.tif"].kind == "copy-move"
    renamed = samples["Tp/Tp_D_NNN_M_N_arc00010_nat00002_00230.tif"]
    assert renamed.mask.name == "Tp_S_NNN_M_N_arc00010_nat00002_00230_gt.png"
    assert samples["Au/Au_ani_00002.bmp"].label == 0
    check_common(dataset)


def test_coverage(tmp_path):
    root = tmp_path / "COVERAGE"
    for n in (1, 2, 10):
        picture(root / "image" / f"{n}.tif")
        picture(root / "image" / f"{n}t.tif")
    white_mask(root / "mask" / "1forged.tif")
    white_mask(root / "mask" / "1copy.tif")
    white_mask(root / "mask" / "10forged.tif")
    (root / "label").mkdir()
    dataset = open_dataset(f"coverage:{root}")
    samples = by_id(dataset)
    assert len(samples) == 6
    assert samples["image/1t.tif"].mask.name == "1forged.tif"
    assert samples["image/10t.tif"].mask.name == "10forged.tif"
    assert samples["image/2t.tif"].mask is None
    assert samples["image/1.tif"].label == 0 and samples["image/1t.tif"].kind == "copy-move"
    check_common(dataset)


def make_nist(root: Path) -> None:
    picture(root / "probe" / "NC2016_0001.jpg")
    picture(root / "probe" / "NC2016_0002.jpg")
    picture(root / "probe" / "NC2016_0003.jpg")
    black_mask(root / "reference" / "manipulation" / "mask" / "NC2016_9001.png")
    (root / "reference" / "manipulation" / "NC2016-manipulation-ref.csv").write_text(
        "TaskID|ProbeFileID|ProbeFileName|ProbeMaskFileName|DonorFileID|IsTarget|"
        "IsManipulationTypeRemoval|IsManipulationTypeSplice|IsManipulationTypeCopyClone\n"
        "manipulation|NC2016_0001|probe/NC2016_0001.jpg|reference/manipulation/mask/NC2016_9001.png||Y|N|Y|N\n"
        "manipulation|NC2016_0002|probe/NC2016_0002.jpg|||N|N|N|N\n"
        "manipulation|NC2016_0003|probe/NC2016_0003.jpg|||Y|Y|N|Y\n"
        "manipulation|NC2016_0003|probe/NC2016_0003.jpg|||Y|Y|N|Y\n"
    )


def test_nist16(tmp_path):
    root = tmp_path / "NC2016_Test0613"
    make_nist(root)
    dataset = open_dataset(f"nist16:{root}")
    samples = by_id(dataset)
    assert list(samples) == ["probe/NC2016_0001.jpg", "probe/NC2016_0002.jpg", "probe/NC2016_0003.jpg"]
    first = samples["probe/NC2016_0001.jpg"]
    assert first.label == 1 and first.kind == "splicing" and first.mask_convention == BLACK_TAMPERED
    assert np.array_equal(load_mask(first), expected_box())
    assert samples["probe/NC2016_0002.jpg"].label == 0
    third = samples["probe/NC2016_0003.jpg"]
    assert third.mask is None and third.kind == "copy-move+removal"
    check_common(dataset)
    # the reference CSV itself, and the folder above the dataset, also work
    csv_path = root / "reference" / "manipulation" / "NC2016-manipulation-ref.csv"
    assert [s.id for s in open_dataset(f"nist16:{csv_path}").samples()] == list(samples)
    assert [s.id for s in open_dataset(f"nist16:{tmp_path}").samples()] == list(samples)


def test_imd2020(tmp_path):
    root = tmp_path / "IMD2020"
    picture(root / "1a1ogs" / "1a1ogs_orig.jpg")
    picture(root / "1a1ogs" / "c8tf5mq_0.png")
    white_mask(root / "1a1ogs" / "c8tf5mq_0_mask.png")
    picture(root / "1a3oag" / "1a3oag_orig.jpg")
    picture(root / "1a3oag" / "c8tt7fg_0.jpg")
    white_mask(root / "1a3oag" / "c8tt7fg_0_mask.png")
    picture(root / "1a3oag" / "c8u0wl4_1.jpg")  # no mask downloaded
    (root / "README.txt").write_text("not a folder")
    dataset = open_dataset(f"imd2020:{root}")
    samples = by_id(dataset)
    assert len(samples) == 5
    assert samples["1a1ogs/1a1ogs_orig.jpg"].label == 0
    assert samples["1a1ogs/c8tf5mq_0.png"].mask.name == "c8tf5mq_0_mask.png"
    assert samples["1a3oag/c8tt7fg_0.jpg"].mask.name == "c8tt7fg_0_mask.png"
    assert samples["1a3oag/c8u0wl4_1.jpg"].label == 1 and samples["1a3oag/c8u0wl4_1.jpg"].mask is None
    check_common(dataset)


def test_dso1(tmp_path):
    root = tmp_path / "tifs-database"
    for n in (1, 2):
        picture(root / "DSO-1" / f"normal-{n:02d}.png")
        picture(root / "DSO-1" / f"splicing-{n:02d}.png")
    black_mask(root / "DSO-1-Fake-Images-Masks" / "splicing-01.png")
    dataset = open_dataset(f"dso1:{root}")
    samples = by_id(dataset)
    assert len(samples) == 4
    spliced = samples["DSO-1/splicing-01.png"]
    assert spliced.label == 1 and spliced.mask_convention == BLACK_TAMPERED and spliced.kind == "splicing"
    assert np.array_equal(load_mask(spliced), expected_box())
    assert samples["DSO-1/splicing-02.png"].mask is None
    assert samples["DSO-1/normal-01.png"].label == 0
    check_common(dataset)
    # the DSO-1 folder itself, with the masks beside it
    inner = [s.id for s in open_dataset(f"dso1:{root / 'DSO-1'}").samples()]
    assert inner == ["splicing-01.png", "splicing-02.png", "normal-01.png", "normal-02.png"]


def test_korus(tmp_path):
    root = tmp_path / "realistic-tampering-dataset" / "data-images"
    for camera in ("Canon_60D", "Sony_A57"):
        picture(root / camera / "tampered-realistic" / "r0001.TIF")
        picture(root / camera / "pristine" / "r0001.TIF")
        white_mask(root / camera / "ground-truth" / "r0001.PNG")
    picture(root / "Sony_A57" / "tampered-realistic" / "r0002.TIF")
    dataset = open_dataset(f"korus:{tmp_path / 'realistic-tampering-dataset'}")
    samples = by_id(dataset)
    assert len(samples) == 5
    tampered = samples["data-images/Canon_60D/tampered-realistic/r0001.TIF"]
    assert tampered.label == 1 and tampered.mask.name == "r0001.PNG"
    assert samples["data-images/Sony_A57/tampered-realistic/r0002.TIF"].mask is None
    assert samples["data-images/Sony_A57/pristine/r0001.TIF"].label == 0
    check_common(dataset)
    one_camera = by_id(open_dataset(f"korus:{root / 'Canon_60D'}"))
    assert sorted(one_camera) == ["pristine/r0001.TIF", "tampered-realistic/r0001.TIF"]


def test_korus_three_level_mask_keeps_white(tmp_path):
    path = tmp_path / "gt.PNG"
    levels = np.zeros((SIZE, SIZE), dtype=np.uint8)
    levels[BOX] = 255
    levels[0, :] = 96  # collateral damage (grey)
    Image.fromarray(levels).save(path)
    assert np.array_equal(load_mask(path), expected_box())


def test_cocoglide_with_and_without_table(tmp_path):
    root = tmp_path / "CocoGlide"
    picture(root / "fake" / "glide_inpainting_val2017_114871_up.png")
    picture(root / "fake" / "glide_inpainting_val2017_49269_up.png")
    picture(root / "real" / "dining table_114871.png")
    picture(root / "real" / "clock_49269.png")
    white_mask(root / "mask" / "dining table_114871_mask.png")
    white_mask(root / "mask" / "clock_49269_mask.png")
    dataset = open_dataset(f"cocoglide:{root}")
    samples = by_id(dataset)
    assert samples["fake/glide_inpainting_val2017_114871_up.png"].mask.name == "dining table_114871_mask.png"
    assert samples["fake/glide_inpainting_val2017_49269_up.png"].mask.name == "clock_49269_mask.png"
    assert samples["fake/glide_inpainting_val2017_49269_up.png"].kind == "inpainting"
    assert samples["real/clock_49269.png"].label == 0
    check_common(dataset)
    # the archive's table.csv (with a BOM) pairs them when present
    (root / "table.csv").write_text(
        "\ufeffreal,fake,mask,prompt\n"
        "real/clock_49269.png,fake/glide_inpainting_val2017_49269_up.png,mask/dining table_114871_mask.png,a clock\n",
        encoding="utf-8",
    )
    paired = by_id(open_dataset(f"cocoglide:{root}"))
    assert paired["fake/glide_inpainting_val2017_49269_up.png"].mask.name == "dining table_114871_mask.png"


def test_comofod(tmp_path):
    root = tmp_path / "CoMoFoD_small_v2"
    for n in ("001", "002"):
        picture(root / f"{n}_F.png")
        picture(root / f"{n}_O.png")
    white_mask(root / "001_B.png")
    colour = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    colour[BOX] = (0, 0, 255)
    Image.fromarray(colour).save(root / "002_M.png")
    picture(root / "001_F_JC1.jpg")
    picture(root / "001_O_JC1.jpg")
    picture(root / "001_F_BC2.png")
    dataset = open_dataset(f"comofod:{tmp_path}")  # files one folder below also found
    samples = by_id(dataset)
    assert sorted(samples) == sorted(
        f"CoMoFoD_small_v2/{name}" for name in
        ("001_F.png", "001_O.png", "002_F.png", "002_O.png", "001_F_JC1.jpg", "001_O_JC1.jpg", "001_F_BC2.png")
    )
    forged = samples["CoMoFoD_small_v2/001_F.png"]
    assert forged.label == 1 and forged.kind == "copy-move" and forged.mask.name == "001_B.png"
    assert samples["CoMoFoD_small_v2/001_F_JC1.jpg"].mask.name == "001_B.png"
    assert samples["CoMoFoD_small_v2/001_O_JC1.jpg"].label == 0
    colour_only = samples["CoMoFoD_small_v2/002_F.png"]
    assert colour_only.mask.name == "002_M.png" and colour_only.mask_convention == NONBLACK_TAMPERED
    assert np.array_equal(load_mask(colour_only), expected_box())
    check_common(dataset)
    clean_only = ds.CoMoFoD(root, postprocessed=False)
    assert sorted(s.id for s in clean_only.samples()) == ["001_F.png", "001_O.png", "002_F.png", "002_O.png"]


def test_csv_manifest(tmp_path):
    root = tmp_path / "mine"
    picture(root / "a.png")
    picture(root / "b.png")
    picture(root / "c.png")
    black_mask(root / "m" / "b.png")
    (root / "list.csv").write_text(
        "image,mask,label,mask_convention,kind,split\n"
        "a.png,,0,,,test\n"
        "b.png,m/b.png,tampered,black-tampered,splicing,test\n"
        "c.png,m/missing.png,1,,,train\n"
    )
    dataset = open_dataset(f"csv:{root / 'list.csv'}")
    samples = by_id(dataset)
    assert list(samples) == ["a.png", "b.png", "c.png"]  # manifest order
    b = samples["b.png"]
    assert b.label == 1 and b.mask_convention == BLACK_TAMPERED and b.kind == "splicing" and b.split == "test"
    assert np.array_equal(load_mask(b), expected_box())
    assert samples["c.png"].mask is None  # listed but not on disk: detection only
    assert samples["a.png"].label == 0 and samples["a.png"].mask_convention == WHITE_TAMPERED
    check_common(dataset)


@pytest.mark.parametrize(
    "row, message",
    [
        ("a.png,,maybe", "label 'maybe'"),
        ("a.png,,1,purple", "mask_convention 'purple'"),
    ],
)
def test_csv_manifest_bad_rows(tmp_path, row, message):
    picture(tmp_path / "a.png")
    (tmp_path / "manifest.csv").write_text("image,mask,label,mask_convention\n" + row + "\n")
    with pytest.raises(BadManifest, match=message) as caught:
        list(open_dataset(f"csv:{tmp_path}").samples())
    assert "line 2" in str(caught.value) and "\n" not in str(caught.value)


def test_csv_manifest_without_columns(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,y\nx.png,1\n")
    with pytest.raises(DatasetNotFound, match="columns image, label"):
        open_dataset(f"csv:{tmp_path / 'manifest.csv'}")


def test_folder(tmp_path):
    root = tmp_path / "own"
    picture(root / "authentic" / "x.jpg")
    picture(root / "tampered" / "y.jpg")
    picture(root / "tampered" / "z.png")
    white_mask(root / "masks" / "y.png")
    dataset = open_dataset(f"folder:{root}")
    samples = by_id(dataset)
    assert list(samples) == ["tampered/y.jpg", "tampered/z.png", "authentic/x.jpg"]
    assert samples["tampered/y.jpg"].mask.name == "y.png"
    assert samples["tampered/z.png"].mask is None
    assert samples["authentic/x.jpg"].label == 0
    check_common(dataset)


def test_devset_skips_non_detection_rows(tmp_path):
    picture(tmp_path / "images" / "real.jpg")
    picture(tmp_path / "images" / "fake.png")
    picture(tmp_path / "images" / "c2pa.jpg")
    (tmp_path / "manifest.csv").write_text(
        "image_path,label,manipulation,source_repo,mask_path\n"
        "images/real.jpg,authentic,none (LFW; identity=X),repo,\n"
        "images/fake.png,synthetic,StyleGAN2,repo,\n"
        "images/c2pa.jpg,provenance-test,,repo,\n"
    )
    samples = by_id(open_dataset(f"devset:{tmp_path}"))
    assert list(samples) == ["images/real.jpg", "images/fake.png"]
    assert samples["images/real.jpg"].kind == "" and samples["images/fake.png"].kind == "StyleGAN2"
    assert samples["images/fake.png"].label == 1


# ----------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("columbia", "4cam_auth/ and 4cam_splc/"),
        ("casia1", "expected folders Au/ and Tp/ (or a manifest.csv) under"),
        ("casia2", "Au/ and Tp/"),
        ("coverage", "image/"),
        ("nist16", "NC2016-manipulation-ref.csv"),
        ("imd2020", "_orig"),
        ("dso1", "DSO-1/"),
        ("korus", "tampered-realistic/"),
        ("cocoglide", "fake/"),
        ("comofod", "NNN_F.png"),
        ("csv", "CSV manifest"),
        ("folder", "authentic/"),
        ("devset", "manifest.csv"),
    ],
)
def test_missing_dataset_says_what_was_expected(tmp_path, kind, expected):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "stray.txt").write_text("x")
    for root in (empty, tmp_path / "nowhere"):
        with pytest.raises(DatasetNotFound) as caught:
            open_dataset(f"{kind}:{root}")
        message = str(caught.value)
        assert isinstance(caught.value, InputError)
        assert message.startswith(f"{kind}: expected ") and expected in message and str(root) in message
        assert "\n" not in message
    with pytest.raises(DatasetNotFound, match="no such folder"):
        open_dataset(f"{kind}:{tmp_path / 'nowhere'}")


def test_casia1_message_is_exact(tmp_path):
    with pytest.raises(DatasetNotFound) as caught:
        open_dataset(f"casia1:{tmp_path}")
    assert str(caught.value) == f"casia1: expected folders Au/ and Tp/ (or a manifest.csv) under {tmp_path}"


@pytest.mark.parametrize("spec", ["casia1", "nosuch:/x", ":/x", "casia1:", ""])
def test_bad_specs(spec):
    with pytest.raises(BadDatasetSpec) as caught:
        open_dataset(spec)
    assert "casia1" in str(caught.value) and "\n" not in str(caught.value)


def test_aliases(tmp_path):
    make_nist(tmp_path)
    assert isinstance(open_dataset(f"NC2016:{tmp_path}"), ds.Nist16)


def test_load_mask_needs_a_mask():
    sample = Sample(id="x", image=Path("x.png"), mask=None, label=0)
    with pytest.raises(InputError, match="no mask"):
        load_mask(sample)


# ----------------------------------------------------------------------------------------------
# The shared development copy (skipped where it is absent)

needs_casia1 = pytest.mark.skipif(
    not (CASIA1_DEV / "manifest.csv").is_file(), reason=f"dev data not present at {CASIA1_DEV}"
)


@needs_casia1
@pytest.mark.parametrize("kind", ["devset", "casia1"])
def test_dev_casia1(kind):
    dataset = open_dataset(f"{kind}:{CASIA1_DEV}")
    samples = list(dataset.samples())
    assert len(samples) == 880
    assert sum(s.mask is not None for s in samples) == 460
    assert sum(s.label for s in samples) == 460
    assert {s.kind for s in samples if s.label} == {"copy-move", "splicing"}
    first_masked = next(s for s in samples if s.mask is not None)
    mask = load_mask(first_masked)
    assert mask.dtype == bool and 0 < mask.mean() < 0.9


@needs_casia1
def test_dev_casia1_folder_scan_pairs_almost_all():
    dataset = ds.Casia1(CASIA1_DEV)
    dataset.manifest = None  # force the folder scan the original layout uses
    dataset.authentic, dataset.tampered, dataset.masks = (CASIA1_DEV / "Au", CASIA1_DEV / "Tp", CASIA1_DEV / "masks")
    samples = list(dataset.samples())
    assert len(samples) == 880
    assert sum(s.mask is not None for s in samples) >= 455
