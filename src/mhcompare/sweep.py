"""Hydra callbacks for multiruns: aggregate every run of the experiment once the sweep ends."""
import logging

from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)


class AggregateAfterSweep(Callback):
    def on_multirun_end(self, config, **kwargs) -> None:
        from mhcompare.stages import aggregate

        try:
            aggregate.run(config)
        except Exception:  # the sweep's own results stay valid; say why the report is missing
            log.exception("aggregate after the sweep failed; run `python run.py stage=aggregate "
                          "experiment_name=%s` to retry", config.experiment_name)
