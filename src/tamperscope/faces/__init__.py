"""Face forensics: finding faces, self-blended training images, video clips.

Modules: :mod:`.find` (Haar cascades of OpenCV 4.x), :mod:`.blend` (self-blended
images, Shiohara & Yamasaki 2022, with the Face X-ray boundary of Li et al.
2020), :mod:`.model` (the ONNX network that reads a face crop) and
:mod:`.video` (clips: sampling, tracking, per-face scores over time).
"""
