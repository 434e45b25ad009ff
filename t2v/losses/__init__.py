"""The GAN objective catalogue and the VAE terms, by name, in one place."""
from .adversarial import (
    ADVERSARIAL_LOSSES,
    AdversarialLoss,
    FGANLoss,
    HingeLoss,
    LSGANLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    OptimizerHint,
    WGANGPLoss,
    WGANLoss,
    get_adversarial_loss,
)
from .ebgan import EBGANLoss, pulling_away_term, reconstruction_energy
from .fgan import F_DIVERGENCES, FDivergence, f_divergence_bound, f_divergence_estimate, get_f_divergence
from .infogan import CodeSample, LatentCodes, QHead, QOutput, info_loss, mutual_information_lower_bound
from .mmd import DEFAULT_BANDWIDTHS, gaussian_kernel, mmd2, mmd_loss
from .reconstruction import saliency_weights, weighted_l1
from .regularizers import clip_weights, gradient_penalty, mode_seeking_loss, r1_penalty, r2_penalty
from .unrolled import unroll_discriminator, unrolled_generator_loss
from .vae import bernoulli_nll, gaussian_nll, kl_normal, kl_normal_std, reparameterize

__all__ = [
    "ADVERSARIAL_LOSSES",
    "AdversarialLoss",
    "CodeSample",
    "DEFAULT_BANDWIDTHS",
    "EBGANLoss",
    "FDivergence",
    "FGANLoss",
    "F_DIVERGENCES",
    "HingeLoss",
    "LSGANLoss",
    "LatentCodes",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "OptimizerHint",
    "QHead",
    "QOutput",
    "WGANGPLoss",
    "saliency_weights",
    "weighted_l1",
    "WGANLoss",
    "bernoulli_nll",
    "clip_weights",
    "f_divergence_bound",
    "f_divergence_estimate",
    "gaussian_kernel",
    "gaussian_nll",
    "get_adversarial_loss",
    "get_f_divergence",
    "gradient_penalty",
    "info_loss",
    "kl_normal",
    "kl_normal_std",
    "mmd2",
    "mmd_loss",
    "mode_seeking_loss",
    "mutual_information_lower_bound",
    "pulling_away_term",
    "r1_penalty",
    "r2_penalty",
    "reconstruction_energy",
    "reparameterize",
    "unroll_discriminator",
    "unrolled_generator_loss",
]
