"""sRGB (D65) ↔ CIE XYZ ↔ L*a*b* constants.

One copy for the two conversions that use them: the uint8 numpy one in
`painter.data.color` and the `keras.ops` layer `painter.models.layers.LabColorTransfer`.
numpy only, so the model layer does not import the data package (and its tf.data code).
"""

import numpy as np

# sRGB (D65) → XYZ, and the D65 white point.
RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
# The CIE's exact ε and κ of the L*a*b* curve's linear part.
CIE_EPSILON = 216 / 24389
CIE_KAPPA = 24389 / 27
