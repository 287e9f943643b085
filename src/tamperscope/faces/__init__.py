"""Face forensics: finding faces, self-blended training images, video clips.

Modules: :mod:`.find` (MediaPipe's bundled face detector and 478-point face
mesh), :mod:`.blend` (self-blended images on landmark-hull masks, Shiohara &
Yamasaki 2022, with the Face X-ray boundary of Li et al. 2020), :mod:`.model`
(the ONNX network that reads a face crop) and :mod:`.video` (clips: sampling,
tracking, per-face scores over time).
"""
