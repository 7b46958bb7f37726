"""The demo world: a small, realistic rare-earth supply chain with honest noise and planted
cases of every finding rule (`rareflow synth`). See docs/demo-scenarios.md."""

from rareflow.world.generate import SCENARIOS, generate

__all__ = ["SCENARIOS", "generate"]
