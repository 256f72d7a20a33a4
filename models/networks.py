"""Encoder/decoder networks for 64×64 images with C channels (1 or 3). No objectives here.

Each architecture is an (encoder, decoder) pair in :data:`ARCHITECTURES`. An encoder maps
``(B, C, 64, 64)`` to ``(B, out_features)`` (2·D for the Gaussian models, D for the AE); a decoder
maps ``(B, D)`` to ``(B, C, 64, 64)`` raw outputs (logits or the Gaussian mean).
"""

from __future__ import annotations

from itertools import pairwise

from torch import nn


class BurgessEncoder(nn.Module):
    """Burgess et al. 2018's network ("Understanding disentangling in β-VAE"):
    4 × [conv 32, k4, s2, p1, ReLU] (64→4 px) → 512 → dense 256 → dense 256 → out. Not
    disentanglement_lib's network (that is :class:`DisentanglementLibEncoder`)."""

    def __init__(self, in_channels: int, out_features: int):
        super().__init__()
        layers, c = [], in_channels
        for _ in range(4):
            layers += [nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(inplace=True)]
            c = 32
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(32 * 4 * 4, 256), nn.ReLU(inplace=True),
            nn.Linear(256, 256), nn.ReLU(inplace=True),
            nn.Linear(256, out_features),
        )

    def forward(self, x):
        return self.head(self.features(x))


class BurgessDecoder(nn.Module):
    """Mirror of :class:`BurgessEncoder`: dense 256, 256, 512 → 4 transposed convs to C outputs."""

    def __init__(self, latent_dim: int, out_channels: int):
        super().__init__()
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(inplace=True),
            nn.Linear(256, 256), nn.ReLU(inplace=True),
            nn.Linear(256, 32 * 4 * 4), nn.ReLU(inplace=True),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, out_channels, 4, 2, 1),
        )

    def forward(self, z):
        return self.deconv(self.dense(z).view(-1, 32, 4, 4))


class DisentanglementLibEncoder(nn.Module):
    """disentanglement_lib's ``conv_encoder`` (methods/shared/architectures.py), the network of
    Locatello et al. 2019: conv 32 k4, 32 k4, 64 k2, 64 k2 (all s2, TF "same" padding, ReLU;
    64→4 px) → 1024 → dense 256 ReLU → out (their separate means/log-variance heads as one layer)."""

    def __init__(self, in_channels: int, out_features: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 4, 2, 1), nn.ReLU(inplace=True),  # "same" at k4 s2: pad 1
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 2, 2, 0), nn.ReLU(inplace=True),  # "same" at k2 s2: pad 0
            nn.Conv2d(64, 64, 2, 2, 0), nn.ReLU(inplace=True),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(64 * 4 * 4, 256), nn.ReLU(inplace=True),
                                  nn.Linear(256, out_features))

    def forward(self, x):
        return self.head(self.features(x))


class DisentanglementLibDecoder(nn.Module):
    """disentanglement_lib's ``deconv_decoder``: dense 256, dense 1024 (ReLU) → 64×4×4 →
    transposed convs 64, 32, 32 (k4 s2 "same" = pad 1, ReLU) and C (k4 s2, no activation).
    Channel-first reshape where TF's is channel-last: the same network up to a unit permutation."""

    def __init__(self, latent_dim: int, out_channels: int):
        super().__init__()
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(inplace=True),
            nn.Linear(256, 64 * 4 * 4), nn.ReLU(inplace=True),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, out_channels, 4, 2, 1),
        )

    def forward(self, z):
        return self.deconv(self.dense(z).view(-1, 64, 4, 4))


def _down(c_in: int, c_out: int) -> list[nn.Module]:
    # k4 s2 with padding 1 halves the size exactly: Keras' "same" for even inputs.
    return [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]


def _up(c_in: int, c_out: int, **conv) -> list[nn.Module]:
    return [nn.ConvTranspose2d(c_in, c_out, bias=False, **conv), nn.BatchNorm2d(c_out),
            nn.LeakyReLU(0.2, inplace=True)]


class SeedReportEncoder(nn.Module):
    """The seed report's encoder: 5 × [conv k4 s2 "same", no bias, batch norm, leaky ReLU] with
    64, 128, 128, 256, 512 channels (64→2 px), a sixth conv to D channels at 1×1, then dense
    heads (here one dense layer producing ``out_features``: μ and log σ² for the Gaussian models,
    so σ² = exp(log σ²) — the report's intent, without its variance/std mix-up)."""

    def __init__(self, in_channels: int, out_features: int, latent_dim: int | None = None):
        super().__init__()
        d = latent_dim or out_features
        chans = [in_channels, 64, 128, 128, 256, 512]
        layers = []
        for c_in, c_out in pairwise(chans):
            layers += _down(c_in, c_out)
        layers += [nn.Conv2d(512, d, 2), nn.LeakyReLU(0.2, inplace=True), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(d, out_features)

    def forward(self, x):
        return self.head(self.features(x))


class SeedReportDecoder(nn.Module):
    """The seed report's decoder: transposed convs 512 (k1), 256 (k4 valid → 4×4), 128, 128, 64,
    C (k4 s2 → 64×64), batch norm + leaky ReLU between, and a final k5 "same" conv for the mean."""

    def __init__(self, latent_dim: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            *_up(latent_dim, 512, kernel_size=1),
            *_up(512, 256, kernel_size=4),
            *_up(256, 128, kernel_size=4, stride=2, padding=1),
            *_up(128, 128, kernel_size=4, stride=2, padding=1),
            *_up(128, 64, kernel_size=4, stride=2, padding=1),
            *_up(64, out_channels, kernel_size=4, stride=2, padding=1),
            nn.Conv2d(out_channels, out_channels, 5, padding=2),
        )

    def forward(self, z):
        return self.net(z.view(z.shape[0], -1, 1, 1))


#: Architecture name → (encoder, decoder): the one list of architectures (config validation,
#: benchmarks and tests read it).
ARCHITECTURES = {
    "burgess": (BurgessEncoder, BurgessDecoder),
    "disentanglement_lib": (DisentanglementLibEncoder, DisentanglementLibDecoder),
    "seed_report": (SeedReportEncoder, SeedReportDecoder),
}


def build_networks(architecture: str, in_channels: int, latent_dim: int, encoder_outputs: int):
    """(encoder, decoder) of ``architecture``; a clear error lists the known architectures."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture: unknown architecture {architecture!r}; choose one of "
                         f"{', '.join(ARCHITECTURES)}")
    if in_channels < 1:
        raise ValueError(f"in_channels: must be >= 1, got {in_channels}")
    enc_cls, dec_cls = ARCHITECTURES[architecture]
    if enc_cls is SeedReportEncoder:
        encoder = enc_cls(in_channels, encoder_outputs, latent_dim=latent_dim)
    else:
        encoder = enc_cls(in_channels, encoder_outputs)
    return encoder, dec_cls(latent_dim, in_channels)
