"""Recipe registry: name -> "module:Class". Recipes are imported only when asked for."""
from __future__ import annotations

import importlib

from ..errors import ConfigError

RECIPES: dict[str, str] = {
    "t2v": "t2v.training.recipes.t2v:T2VRecipe",
    "cyclegan": "t2v.training.recipes.cyclegan:CycleGANRecipe",
    "adda": "t2v.training.recipes.adda:ADDARecipe",
    "tfgan": "t2v.training.recipes.tfgan:TFGANRecipe",
    "toy": "t2v.training.recipes.toy:ToyRecipe",
    "vae": "t2v.training.recipes.vae:VAERecipe",
    "dcgan": "t2v.training.recipes.dcgan:DCGANRecipe",
}


def recipe_class(name: str) -> type:
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; valid recipes: {', '.join(sorted(RECIPES))}")
    module, cls = RECIPES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def model_config_class(name: str) -> type:
    return recipe_class(name).model_config
