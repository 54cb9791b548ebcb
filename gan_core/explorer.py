"""Latent-space exploration of a trained generator: fast generation, directions through a point, planes.

The Explore page redraws on every slider move, so generation is a handful of images at a time and
must take milliseconds: the generator is called through a `latent.Sampler`, one traced
`tf.function` (never `model.predict`, whose per-call setup alone costs tens of milliseconds), and
recent results are kept, so a rerun that changes only one picture regenerates only that picture.

Vocabulary: `z` is one latent vector of `latent_dim` numbers, `directions` is a (k, latent_dim)
array of unit vectors, a `plane` is the grid of latent vectors `center + x * d0 + y * d1`. A
conditional generator also takes `labels`: a class, or class weights such as `class_mix(a, b, t)`
to draw the same noise part way from class a to class b. A generator whose noise carries a code
(InfoGAN, `models.NoiseCode`) may be asked for a `code`: the noise is changed to carry it
(`Sampler.with_code`) before it is drawn.

`RealNeighbours` answers "does the generator copy its data?": the real images nearest a generated
one, in pixels and in the digit classifier's features, next to how near real images are to each other.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from gan_core.latent import code_bias, fixed_noise, lerp, make_grid, png_bytes, slerp, upscale
from gan_core.runs import RunError

DIRECTION_KINDS = {
    "dimensions": "two latent dimensions",
    "random": "two random orthonormal directions",
    "pca": "principal directions of the generator's output (GANSpace)",
}
PCA_SAMPLES = 2_000  # latent vectors sampled to find the principal directions
BATCH = 256  # images per generator call when many are needed at once
NEIGHBOURS = 5  # real images shown beside the image at t
# Real images searched for neighbours: all of mnist-sample; the first 10,000 of full MNIST, whose
# 60,000 would take ~20 s of classifier features on two cores before the first answer.
MAX_BANK = 10_000
TYPICAL_SAMPLE = 300  # real images whose nearest other real image sets the "typical" distance


class Explorer:
    """A generator ready for interactive use: one traced call, recent results kept, directions found once.

    Draws through a `latent.Sampler`, like everything else. For a conditional generator every
    picture is asked for a class: `generate(z, labels)` with one class, a class per vector, or
    class weights (`class_mix`), which is how the page walks from one class to another with the
    same noise. For a generator whose noise carries a code, `generate(z, code=k)` draws every
    vector with code k, and `code=None` as its noise says. Thread-safe: the page shares one
    Explorer per generator file between every browser session.
    """

    def __init__(self, generator, cache_entries: int = 64):
        from gan_core.latent import Sampler

        check_generator(generator)
        try:
            self.sampler = Sampler(generator, BATCH)
        except ValueError as e:  # two inputs but no class one-hot layer: not one of our generators
            raise RunError(str(e)) from e
        self.generator = generator
        self.latent_dim = self.sampler.latent_dim
        self.image_shape = self.sampler.image_shape
        self.conditional = self.sampler.conditional
        self.num_classes = self.sampler.num_classes
        self.codes = self.sampler.codes  # how many values the code in its noise has (InfoGAN), or None
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_entries = cache_entries
        self._directions: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        # Trace now, not on the first slider move (a conditional generator: by class and by class weights).
        zero = np.zeros((1, self.latent_dim), "float32")
        if self.conditional:
            self.sampler(zero, 0)
            self.sampler(zero, class_mix(0, 1, 0.5, self.num_classes))
        else:
            self.sampler(zero)

    def generate(
        self, z: np.ndarray, labels: int | np.ndarray | None = None, code: int | np.ndarray | None = None
    ) -> np.ndarray:
        """Images in [-1, 1], shape (N, H, W, C), for latent vectors z of shape (N, latent_dim) or (latent_dim,).

        `labels` (conditional generators only, and then required): one class for every image, a
        class per image (N,), or class weights (N, num_classes) or (1, num_classes) for all.
        `code` (generators whose noise carries one only): one code for every image or one per
        image; None draws each vector with the code its noise carries."""
        z, labels = self._inputs(self.with_code(z, code), labels)
        key = hashlib.blake2b(z.tobytes(), digest_size=16)
        shapes = str(z.shape)
        if labels is not None:
            key.update(labels.tobytes())
            shapes += f"{labels.dtype}{labels.shape}"
        key = key.digest() + shapes.encode()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        images = self.sampler(z, labels)
        images.flags.writeable = False  # shared between sessions through the cache
        with self._lock:
            self._cache[key] = images
            while len(self._cache) > self._cache_entries:
                self._cache.popitem(last=False)
        return images

    def between_classes(self, z: np.ndarray, a: int, b: int, t: float | np.ndarray) -> np.ndarray:
        """The same noise z drawn as class a (t=0), class b (t=1) and mixes in between: one image per t."""
        if not self.conditional:
            raise ValueError("this generator is unconditional: it has no classes to walk between")
        t = np.atleast_1d(np.asarray(t, dtype="float32"))
        z = np.broadcast_to(np.asarray(z, dtype="float32").reshape(-1, self.latent_dim), (len(t), self.latent_dim))
        return self.generate(z, class_mix(a, b, t, self.num_classes))

    def with_code(self, z: np.ndarray, code: int | np.ndarray | None) -> np.ndarray:
        """z changed to carry `code` (`Sampler.with_code`), in z's shape; z itself for code None
        ("as the noise says"). ValueError for a code where the generator's noise carries none."""
        if code is None:
            return z
        z = np.asarray(z, dtype="float32")
        return self.sampler.with_code(z, code).reshape(z.shape)

    def code_of(self, z: np.ndarray) -> np.ndarray:
        """The code (N,) each latent vector carries: the one its generator draws it with."""
        from gan_core.models import code_of

        if not self.codes:
            raise ValueError("this generator's noise carries no code")
        z = np.asarray(z, dtype="float32").reshape(-1, self.latent_dim)
        return np.asarray(code_of(z, self.codes, code_bias(self.sampler.generator)))

    def code_walk(self, z: np.ndarray, a: int, b: int, t: float | np.ndarray) -> np.ndarray:
        """The noise z carrying code a (t=0), carrying code b (t=1), and the straight line between:
        one latent vector per t. The two ends differ in three values at most (those at a, b and z's
        own code), but a code is discrete: on the way the noise carries a, then b, or briefly another."""
        ends = self.with_code(np.stack([z, z]).reshape(2, self.latent_dim), np.array([a, b]))
        return lerp(ends[0], ends[1], np.atleast_1d(np.asarray(t, dtype="float32")))

    def between_codes(self, z: np.ndarray, a: int, b: int, t: float | np.ndarray) -> np.ndarray:
        """The same noise z drawn with code a (t=0), code b (t=1) and along `code_walk` between: one image per t."""
        return self.generate(self.code_walk(z, a, b, t))

    def noise(self, seed: int) -> np.ndarray:
        """The latent vector of a seed: the same on every machine (see `latent.fixed_noise`)."""
        return seed_noise(seed, self.latent_dim)

    def principal_directions(
        self, k: int = 2, n_samples: int = PCA_SAMPLES, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """`principal_directions` of this generator, computed once and kept. For a conditional
        generator, the directions of the variation within each class (style, not class)."""
        key = (k, n_samples, seed)
        with self._lock:
            found = self._directions.get(key)
        if found is None:
            # 2,000 samples straight from the sampler: they would flush the cache of recent pictures for nothing.
            found = principal_directions(self.sampler, self.latent_dim, k, n_samples, seed, self.num_classes)
            with self._lock:
                self._directions[key] = found
        return found

    def _inputs(self, z: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray | None]:
        """z as (N, latent_dim) float32; labels as (N,) int32 classes or (N, num_classes) float32 weights."""
        z = np.ascontiguousarray(z, dtype="float32").reshape(-1, self.latent_dim)
        if labels is None or not self.conditional:
            if labels is not None:
                self.sampler(z, labels)  # raises: the sampler says why an unconditional generator takes no class
            return z, None  # a conditional generator without labels: the sampler says what is missing
        labels = np.asarray(labels)
        if labels.ndim == 2:
            if labels.shape[0] == 1:
                labels = np.broadcast_to(labels, (len(z), labels.shape[1]))
            return z, np.ascontiguousarray(labels, dtype="float32")
        return z, np.ascontiguousarray(np.broadcast_to(labels.astype("int32"), (len(z),)))


def check_generator(generator) -> None:
    """Raise RunError unless `generator` takes (batch, latent_dim) noise (and a label) and outputs images."""
    in_shape = tuple(generator.inputs[0].shape)
    out_shape = tuple(generator.output_shape)
    if len(generator.inputs) > 2 or len(in_shape) != 2 or in_shape[-1] is None:
        shapes = [tuple(i.shape) for i in generator.inputs]
        raise RunError(
            f"this model takes inputs of shape {shapes[0] if len(shapes) == 1 else shapes}; "
            "a generator takes (batch, latent_dim) noise, and a class label if it is conditional"
        )
    if len(out_shape) != 4 or out_shape[-1] not in (1, 3) or None in out_shape[1:]:
        raise RunError(f"this model outputs shape {out_shape}; a generator outputs images (batch, H, W, 1 or 3)")


# --- points ------------------------------------------------------------------------------------


def seed_noise(seed: int, latent_dim: int) -> np.ndarray:
    """One latent vector per seed: `fixed_noise(1, latent_dim, seed)[0]`."""
    return fixed_noise(1, latent_dim, int(seed))[0]


def point_at(a: np.ndarray, b: np.ndarray, t: float, method: str = "slerp") -> np.ndarray:
    """The latent vector a fraction t of the way from a to b, along a line (lerp) or a great circle (slerp)."""
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be 'lerp' or 'slerp' (got {method!r})")
    return (slerp if method == "slerp" else lerp)(a, b, float(t))


def nudge(z: np.ndarray, dims: list[int], offsets: list[float]) -> np.ndarray:
    """A copy of z with `offsets[i]` added to dimension `dims[i]`."""
    z = np.array(z, dtype="float32", copy=True)
    z[list(dims)] += np.asarray(offsets, dtype="float32")
    return z


def class_mix(a: int, b: int, t: float | np.ndarray, num_classes: int) -> np.ndarray:
    """Class weights (1 - t) * one_hot(a) + t * one_hot(b): shape (1, num_classes) for one t,
    (len(t), num_classes) for several. t=0 is exactly class a, t=1 exactly class b."""
    for name, c in (("a", a), ("b", b)):
        if not 0 <= int(c) < num_classes:
            raise ValueError(f"class {name} must be between 0 and {num_classes - 1} (got {c})")
    t = np.atleast_1d(np.asarray(t, dtype="float32"))[:, None]
    eye = np.eye(num_classes, dtype="float32")
    return ((1.0 - t) * eye[int(a)] + t * eye[int(b)]).astype("float32")


# --- directions --------------------------------------------------------------------------------


def orthonormalize(vectors: np.ndarray) -> np.ndarray:
    """Gram-Schmidt on the rows, in order: the first keeps its direction, each next loses what it shares
    with the earlier ones. Raises ValueError when the rows are (nearly) linearly dependent."""
    vectors = np.asarray(vectors, dtype="float64")
    q, r = np.linalg.qr(vectors.T)
    diag = np.diag(r)
    if np.any(np.abs(diag) < 1e-9 * max(1.0, np.abs(vectors).max())):
        raise ValueError("the directions are linearly dependent; choose different ones")
    return (q * np.sign(diag)).T.astype("float32")


def dimension_directions(latent_dim: int, dims: tuple[int, int]) -> np.ndarray:
    """Unit vectors along two latent dimensions, shape (2, latent_dim)."""
    i, j = (int(d) for d in dims)
    if not (0 <= i < latent_dim and 0 <= j < latent_dim):
        raise ValueError(f"dimensions must be between 0 and {latent_dim - 1} (got {i} and {j})")
    if i == j:
        raise ValueError(f"choose two different dimensions (got {i} twice)")
    directions = np.zeros((2, latent_dim), dtype="float32")
    directions[0, i] = directions[1, j] = 1.0
    return directions


def random_directions(latent_dim: int, seed: int, k: int = 2) -> np.ndarray:
    """k random orthonormal directions, shape (k, latent_dim); the same for the same seed."""
    if not 1 <= k <= latent_dim:
        raise ValueError(f"k must be between 1 and latent_dim={latent_dim} (got {k})")
    gaussian = np.random.default_rng(seed).standard_normal((k, latent_dim))
    return orthonormalize(gaussian)


def principal_directions(
    generate, latent_dim: int, k: int = 2, n_samples: int = PCA_SAMPLES, seed: int = 0, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Latent directions along which the generator's images vary most, GANSpace-style (Härkönen et al., 2020).

    PCA of random latent vectors is meaningless (they are isotropic by construction), so the PCA is
    done where the variation shows: on the images G(z) of `n_samples` random z. Each image's
    coordinates on the top k components are then regressed on z (least squares, z ≈ coords @ U);
    the rows of U are the latent directions, orthonormalised in order so that the plane's two
    axes are independent. Returns (directions (k, latent_dim), share of the image variance each
    component explains (k,)).

    `num_classes`: a conditional generator, called as `generate(z, labels)` with every class in
    turn; each class's images and noise are centred on their own mean, so the directions found
    are those of the variation within a class (the style), not the difference between classes.
    """
    if not 1 <= k <= latent_dim:
        raise ValueError(f"k must be between 1 and latent_dim={latent_dim} (got {k})")
    if n_samples <= k:
        raise ValueError(f"n_samples must exceed k={k} (got {n_samples})")
    z = fixed_noise(n_samples, latent_dim, seed).astype("float64")
    if num_classes is None:
        images = np.asarray(generate(z.astype("float32")), dtype="float64").reshape(n_samples, -1)
        images -= images.mean(axis=0)
        z -= z.mean(axis=0)
    else:
        labels = np.arange(n_samples, dtype="int32") % num_classes
        images = np.asarray(generate(z.astype("float32"), labels), dtype="float64").reshape(n_samples, -1)
        for c in range(num_classes):
            images[labels == c] -= images[labels == c].mean(axis=0)
            z[labels == c] -= z[labels == c].mean(axis=0)
    components, singular = top_components(images, k, seed)
    total = float(np.sum(images**2))
    explained = (singular**2 / total) if total > 0 else np.zeros(k)
    coords = images @ components.T  # (n_samples, k)
    # Least squares z ≈ coords @ U by the normal equations: a k x k solve, nothing for LAPACK to thread.
    regression = np.linalg.solve(coords.T @ coords, coords.T @ z)  # (k, latent_dim)
    return orthonormalize(regression), explained.astype("float32")


def top_components(
    x: np.ndarray, k: int, seed: int = 0, oversample: int = 10, iterations: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """The top k right singular vectors (k, features) and singular values (k,) of a centred matrix x.

    Randomised subspace iteration (Halko, Martinsson & Tropp, 2011) rather than a full SVD, run on
    TensorFlow's kernels rather than numpy's: with a training run sharing the two cores, numpy's
    multithreaded LAPACK took 8-30 s for the SVD of 2,000 x 784 images (0.25 s for one thin QR);
    this takes a fraction of a second, also for 32 x 32 colour images.
    """
    import tensorflow as tf

    x = tf.constant(x, dtype=tf.float64)
    n, features = x.shape
    width = min(k + oversample, n, features)
    q, _ = tf.linalg.qr(tf.constant(np.random.default_rng(seed).standard_normal((features, width))))
    for _ in range(iterations):
        q, _ = tf.linalg.qr(tf.matmul(x, tf.matmul(x, q), transpose_a=True))
    singular, _, v = tf.linalg.svd(tf.matmul(x, q))  # a small SVD: (n, width)
    return tf.matmul(q, v).numpy().T[:k], singular.numpy()[:k]


def plane(center: np.ndarray, directions: np.ndarray, steps: int = 7, extent: float = 2.0) -> np.ndarray:
    """The latent vectors of a steps x steps grid through `center`, shape (steps * steps, latent_dim).

    Row-major like the picture: columns move along directions[0] from -extent to +extent (left to
    right), rows along directions[1] from -extent to +extent (top to bottom). With an odd `steps`
    the middle cell is `center` itself.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (got {steps})")
    directions = np.asarray(directions, dtype="float32")
    if directions.shape != (2, len(center)):
        raise ValueError(f"directions must have shape (2, {len(center)}) (got {directions.shape})")
    offsets = np.linspace(-extent, extent, steps, dtype="float32")
    ys, xs = np.meshgrid(offsets, offsets, indexing="ij")
    grid = center[None, :] + xs.reshape(-1, 1) * directions[0] + ys.reshape(-1, 1) * directions[1]
    return grid.astype("float32")


# --- nearest real images -----------------------------------------------------------------------


def nearest(
    query: np.ndarray, bank: np.ndarray, k: int = NEIGHBOURS, metric: str = "l2"
) -> tuple[np.ndarray, np.ndarray]:
    """The k items of `bank` nearest `query`, nearest first: (indices, distances).

    `bank` is (n, ...) items (images or feature vectors, flattened here); `query` is one item of the
    same size, giving arrays of shape (k,), or a batch of m, giving (m, k). `metric`: "l2"
    (Euclidean) or "cosine" (1 - cosine similarity). An item of the bank finds itself at distance 0.
    """
    bank = np.asarray(bank, dtype="float32").reshape(len(bank), -1)
    query = np.asarray(query, dtype="float32")
    single = query.size == bank.shape[1]
    query = query.reshape(-1, bank.shape[1])
    k = min(int(k), len(bank))
    if k < 1:
        raise ValueError(f"k must be at least 1 and the bank must not be empty (got k={k}, {len(bank)} items)")
    distances = _distances(query, bank, metric)
    indices = np.argpartition(distances, k - 1, axis=1)[:, :k]
    # Exact distances of the k found (the fast expansion above leaves float32 round-off), nearest first.
    exact = _distances_rowwise(query[:, None, :], bank[indices], metric)
    order = np.argsort(exact, axis=1, kind="stable")
    indices, exact = np.take_along_axis(indices, order, 1), np.take_along_axis(exact, order, 1)
    return (indices[0], exact[0]) if single else (indices, exact)


def _distances(query: np.ndarray, bank: np.ndarray, metric: str) -> np.ndarray:
    """(m, n) distances of every query to every bank item, by one matrix product."""
    if metric == "l2":
        squared = (query**2).sum(1)[:, None] - 2 * query @ bank.T + (bank**2).sum(1)[None, :]
        return np.sqrt(np.maximum(squared, 0))
    if metric == "cosine":
        return 1 - _unit(query) @ _unit(bank).T
    raise ValueError(f"metric must be 'l2' or 'cosine' (got {metric!r})")


def _distances_rowwise(query: np.ndarray, items: np.ndarray, metric: str) -> np.ndarray:
    """Distances of query[:, 0] to each of items[:, j], in float64."""
    query, items = query.astype("float64"), items.astype("float64")
    if metric == "l2":
        return np.sqrt(((items - query) ** 2).sum(-1))
    return np.maximum(1 - (_unit(items) * _unit(query)).sum(-1), 0)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def nearest_other_distances(bank: np.ndarray, n: int = TYPICAL_SAMPLE, metric: str = "l2", seed: int = 0) -> np.ndarray:
    """How far real items lie from their nearest *other* item: sorted distances for n sampled items.

    The yardstick for a generated image's nearest distance: near the median is an ordinary new
    image, near 0 a copy."""
    bank = np.asarray(bank, dtype="float32").reshape(len(bank), -1)
    if len(bank) < 2:
        raise ValueError(f"the bank needs at least 2 items to compare them (got {len(bank)})")
    sample = np.random.default_rng(seed).permutation(len(bank))[: min(n, len(bank))]
    distances = _distances(bank[sample], bank, metric)
    distances[np.arange(len(sample)), sample] = np.inf  # not its own neighbour
    return np.sort(distances.min(axis=1))


class RealNeighbours:
    """Real images to hold generated ones against, searched in pixels and, for digits, in the
    digit classifier's 128 features. Built once per dataset (seconds), then `search` takes a few
    milliseconds. Read-only after construction, so sessions may share one."""

    def __init__(self, images: np.ndarray, classifier=None, max_images: int = MAX_BANK):
        self.total = len(images)  # of which the first len(self.images) are searched
        self.images = np.asarray(images[:max_images], dtype="float32")
        self.classifier = classifier
        self.banks = {"pixels": self.images.reshape(len(self.images), -1)}
        if classifier is not None:
            self.banks["features"] = classifier.features(self.images)
        self.typical = {space: nearest_other_distances(bank) for space, bank in self.banks.items()}

    def search(self, image: np.ndarray, k: int = NEIGHBOURS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{"pixels": (indices, distances), "features": ...} of the k real images nearest one image (H, W, C)."""
        image = np.asarray(image, dtype="float32").reshape(1, *self.images.shape[1:])
        found = {"pixels": nearest(image, self.banks["pixels"], k)}
        if self.classifier is not None:
            found["features"] = nearest(self.classifier.features(image), self.banks["features"], k)
        return found

    def closer_share(self, space: str, distance: float) -> float:
        """Share of real images whose nearest other real image is closer than `distance`."""
        typical = self.typical[space]
        return float(np.searchsorted(typical, distance) / len(typical))


# --- pictures ----------------------------------------------------------------------------------


def scale_for(height: int, target: int) -> int:
    """The whole-number enlargement that brings an image of `height` pixels closest to `target`."""
    return max(1, round(target / max(1, height)))


def picture(images: np.ndarray, scale: int = 1, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Images in [-1, 1] tiled (one image alone gets no border) and enlarged: a uint8 picture."""
    return upscale(make_grid(images, ncols=ncols, pad=0 if len(images) == 1 else pad), scale)


def picture_png(images: np.ndarray, scale: int = 1, ncols: int | None = None, pad: int = 2) -> bytes:
    """`picture` as PNG bytes, ready for st.image without a second encode."""
    return png_bytes(picture(images, scale, ncols, pad))


def walk_gif(images: np.ndarray, scale: int = 1, fps: float = 8.0, there_and_back: bool = True) -> bytes:
    """An animated GIF of a walk's images (N, H, W, C) in [-1, 1], each enlarged by `scale`.

    `there_and_back` plays A -> B -> A so that the loop has no jump."""
    from gan_core.latent import gif_bytes

    frames = [picture(image[None], scale) for image in images]
    if there_and_back and len(frames) > 2:
        frames += frames[-2:0:-1]
    return gif_bytes(frames, fps=fps)
