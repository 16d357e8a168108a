"""Entry point: compose the config from conf/ and run the requested stages.

    python run.py model=qwen seed=0 stage=[prepare,train]
    python run.py -m model=qwen,llama,chatglm,internlm,baichuan seed=0,1,2 stage=train
"""
import hydra
from omegaconf import DictConfig

from mhcompare.config import register_resolvers

register_resolvers()


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig):
    from mhcompare.stages import run_stages

    return run_stages(cfg)


if __name__ == "__main__":
    main()
