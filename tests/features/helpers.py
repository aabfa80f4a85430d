"""Reference helpers for the feature tests: border index maps and tiny images."""
import numpy as np


def reflect_index(i, n):
    """Half-sample symmetric border (scipy.ndimage 'reflect', numpy 'symmetric')."""
    i = i % (2 * n)
    return i if i < n else 2 * n - 1 - i


def edge_index(i, n):
    """Replicated border."""
    return min(max(i, 0), n - 1)


def at(image, y, x, index=reflect_index):
    """``image[y, x]`` with the border rule ``index`` outside the image."""
    h, w = image.shape[:2]
    return image[index(y, h), index(x, w)]


def tiny_image(rng, shape=(7, 9)):
    return rng.random(shape, dtype=np.float32)
