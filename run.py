"""Entry point: compose the config from conf/ and run the requested stages.

    python run.py model=qwen seed=0 stage=[prepare,train]
    python run.py -m model=qwen,llama,chatglm,internlm,baichuan seed=0,1,2 stage=train
    python run.py --help
"""
import os
import sys

import hydra
from omegaconf import DictConfig

from mhcompare.config import register_resolvers
from mhcompare.errors import UserError
from mhcompare.progress import quiet_bars_in_logs
from mhcompare.readonly import command_line

register_resolvers()
quiet_bars_in_logs()  # progress bars redraw every 30 s in a Slurm log, many times a second on a terminal
# read-only commands run once, here, and leave no multirun/ record; --cfg job shows resolved values
sys.argv = command_line(sys.argv)


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig):
    from mhcompare.stages import run_stages

    try:
        return run_stages(cfg)
    except UserError as error:
        # bad input or settings: the message says what to do; a traceback would say we crashed
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        sys.stderr.write(f"error: {error}\n")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
