"""What `hpi tune` says of a tuning: its TuneResult (tuning.tune's) as a markdown table, the winner and its cache."""
from __future__ import annotations

from .tuning import MIN_AGREEMENT, TuneResult, cache_dir


def tuning_report(result: TuneResult) -> str:
    """Every candidate timed (or why not), its agreement with FP32 and gate, whether it was kept; the winner (tune
    raises when nothing was kept) and the cache file it was written to."""
    unit = result.unit
    lines = [f"| backend | options | ms/{unit}, new shapes | ms/{unit}, shapes seen | agreement with FP32 | gate on "
             f"your data | kept (FP32: agreement >= {MIN_AGREEMENT:.1%}; reduced: gate) |",
             "|---|---|---|---|---|---|---|"]
    for timing in result.candidates:
        options = ", ".join(f"{k}={v}" for k, v in timing.options.items())
        if timing.error:
            lines.append(f"| {timing.backend} | {options} | not timed: {timing.error} | | | | no |")
            continue
        gate = "-" if timing.gate is None else ("holds" if timing.gate["passed"] else "fails") + \
            f" ({timing.gate.get('judged_by', 'measured now')})"
        lines.append(f"| {timing.backend} | {options} | {timing.ms_per_input:.2f} | {timing.warm_ms_per_input:.2f} | "
                     f"{timing.agreement:.1%} | {gate} | {'yes' if timing.kept else 'no'} |")
    lines += [f"winner: {result.winner.backend} {result.winner.options}",
              f"cached: {cache_dir() / (result.key + '.json')}"]
    return "\n".join(lines)
