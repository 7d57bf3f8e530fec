"""What `hpi benchmark` is asked to measure: the CLI builds a BenchmarkSpec from its options, runner.benchmark()
measures it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from ..runtime.device import Device
from ..runtime.model_dir import ModelDir


@dataclass
class RaceSpec:
    """The race (needs a dataset): hpi's systems and `peers` ({system: python}) side by side; `extra_systems`
    ({name: hpi_config}) are raced as well; `rss_lines` > 0 records memory while that many lines stream."""

    rounds: int = 3
    batch_size: int = 8
    rss_lines: int = 0
    peers: Dict[str, str] = field(default_factory=dict)
    extra_systems: Dict[str, dict] = field(default_factory=dict)


@dataclass
class BenchmarkSpec:
    """What `hpi benchmark` measures (the CLI builds it from its options)."""

    model_dirs: List[ModelDir]
    device: Device
    threads: List[int]
    batch_sizes: List[int]
    dataset: Optional[Path] = None  # labels.txt's folder: end-to-end rows and the race
    backends: Optional[List[str]] = None  # restrict high-performance candidates
    seconds: float = 2.0  # timing budget per candidate and batch size (model rows)
    rounds: int = 3  # interleaved rounds within that budget
    model_rows: bool = True  # False: the race only
    race: RaceSpec = field(default_factory=RaceSpec)
    progress: bool = True

    @property
    def runs_races(self) -> bool:
        return bool(self.dataset and self.race.rounds)
