"""The costs of Gatys et al. (2015), on activations a of shape (1, n_C, n_H, n_W).

J_content = 1 / (4 n_H n_W n_C) * sum (a_C - a_G)^2      (the normalised form; the paper's 1/2 ||.||^2 differs
                                                          only by a constant, absorbed in alpha)
G_kk'     = sum_ij a_ijk a_ijk'                            (Gram matrix, n_C x n_C)
J_style^l = 1 / (2 n_H n_W n_C)^2 * sum (G_S - G_G)^2
J_style   = sum_l lambda_l J_style^l
"""
from __future__ import annotations

import torch


def content_cost(a_content: torch.Tensor, a_generated: torch.Tensor) -> torch.Tensor:
    _, channels, height, width = a_generated.shape
    return ((a_content - a_generated) ** 2).sum() / (4 * height * width * channels)


def gram_matrix(a: torch.Tensor) -> torch.Tensor:
    _, channels, height, width = a.shape
    unrolled = a.reshape(channels, height * width)
    return unrolled @ unrolled.T


def layer_style_cost(gram_style: torch.Tensor, a_generated: torch.Tensor) -> torch.Tensor:
    _, channels, height, width = a_generated.shape
    return ((gram_style - gram_matrix(a_generated)) ** 2).sum() / (2 * height * width * channels) ** 2


def style_cost(gram_styles: dict, activations: dict, lambdas: dict) -> torch.Tensor:
    return sum(lambdas[name] * layer_style_cost(gram_styles[name], activations[name]) for name in lambdas)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels: penalises noise."""
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
