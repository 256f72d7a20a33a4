"""Prior samples' distance to the data: the vectorised nearest-neighbour distances equal a loop over
every pair, a copy of the data lies at 0, and the data's own level skips each image itself."""

import math

import torch

from analysis.metrics.samples import nearest_distances, sample_distance_scores


def loop_nearest(queries, reference, exclude_self=False):
    out = []
    for i, q in enumerate(queries):
        best = math.inf
        for j, r in enumerate(reference):
            if exclude_self and i == j:
                continue
            best = min(best, float(((q.double() - r.double()) ** 2).mean().sqrt()))
        out.append(best)
    return torch.tensor(out, dtype=torch.float64)


def test_equals_the_loop_over_every_pair():
    gen = torch.Generator().manual_seed(0)
    queries, reference = torch.rand(37, 1, 8, 8, generator=gen), torch.rand(53, 1, 8, 8, generator=gen)
    assert torch.allclose(nearest_distances(queries, reference, batch_size=10), loop_nearest(queries, reference))
    assert torch.allclose(nearest_distances(reference, reference, exclude_self=True, batch_size=7),
                          loop_nearest(reference, reference, exclude_self=True))


def test_copies_of_the_data_lie_at_zero_and_noise_far_away():
    gen = torch.Generator().manual_seed(1)
    data = torch.zeros(64, 1, 16, 16)  # a 4 × 4 square at a random place: data-like data
    for image, (row, col) in zip(data, torch.randint(0, 13, (64, 2), generator=gen), strict=True):
        image[0, row:row + 4, col:col + 4] = 1
    copies = sample_distance_scores(data[:32], data)
    assert copies["sample_distance"] < 1e-6 and copies["sample_distance_se"] < 1e-6
    grey = sample_distance_scores(torch.full((32, 1, 16, 16), 0.5), data)
    assert grey["sample_distance"] > copies["data_distance"] > 0
    assert grey["data_distance"] == copies["data_distance"]  # the data's level does not depend on the samples


def test_too_few_images_give_nan():
    scores = sample_distance_scores(torch.rand(1, 1, 4, 4), torch.rand(5, 1, 4, 4))
    assert all(math.isnan(v) for v in scores.values())
