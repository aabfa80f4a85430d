"""Figure helpers: sample panels in the manner of the paper's Fig. 2 / Fig. 4."""
import numpy as np


def save_panels(path, images, columns, cmap="gray", n_classes=None):
    """Save a grid: one row per image, the image then one column per label-map set.

    Parameters
    ----------
    path : str or Path
        PNG file to write.
    images : list of arrays (H, W) or (H, W, 3)
    columns : dict of name -> list of label maps (H, W)
        Label maps shown side by side (e.g. supervised, TV, ground truth).
    cmap : str
        Colour map for label maps (``"gray"`` suits two classes).
    n_classes : int or None
        Fixes the colour range of multi-class maps.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(images), 1 + len(columns)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 1.9 * n_rows), squeeze=False)
    vmax = (n_classes - 1) if n_classes else None
    for r, image in enumerate(images):
        axes[r, 0].imshow(np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None)
        for c, (name, maps) in enumerate(columns.items(), start=1):
            axes[r, c].imshow(maps[r], cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
        if r == 0:
            axes[r, 0].set_title("image", fontsize=9)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
