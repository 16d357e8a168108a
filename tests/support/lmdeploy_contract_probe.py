#!/usr/bin/env python
"""LMDeploy 0.18.0's own code, asked what it makes of what the project sends it.

Run by path in the contract environment (tests/support/lmdeploy_contract.py):

    python lmdeploy_contract_probe.py COMMAND < arguments.json      # prints one JSON object

parse_cli   {"argv": [...]}: `lmdeploy serve api_server ...` through LMDeploy's own argparse
            (lmdeploy.cli: CLI.add_parsers, SubCliServe.add_parsers), and the PytorchEngineConfig
            its api_server builds from it (cli/serve.py SubCliServe.api_server)
validate    {"argv": [...], "route": "chat"|"completions", "body": {...}}: the request as the
            server started with argv answers it before any generation: the route's pydantic request
            model, then endpoints/common.py validate_request with the route's check_request
            (serve/openai/chat_completions/validation.py, endpoints/completions.py); null when accepted
adapter     {"path": ...}: an adapter folder as LMDeploy's add_adapters reads it
            (pytorch/models/patch.py: peft.PeftConfig.from_pretrained, an empty LoraConfig for "no
            adapter", the union of target_modules; pytorch/adapter/adapter.py get_ranks_and_scalings)
render      {"model_path": ..., "messages": [...]}: the prompt LMDeploy's chat route builds from
            messages (lmdeploy/model.py HFChatTemplate.messages2prompt, which the OpenAI chat route
            reaches through serve/processors/multimodal.py), and the documented one (the
            tokenizer's apply_chat_template(messages, tokenize=False), Qwen3Guard's README usage)
"""
import json
import sys
import types


def parse(argv: list[str]):
    from lmdeploy.cli.cli import CLI
    from lmdeploy.cli.serve import SubCliServe

    if not getattr(CLI, "_mhc_parsers", False):
        CLI.add_parsers()
        SubCliServe.add_parsers()
        CLI._mhc_parsers = True
    args = CLI.parser.parse_args(argv)
    args.model_name = args.model_name or args.model_path  # as cli/entrypoint.py run() does
    return args


def engine_config(args):
    """The PytorchEngineConfig fields SubCliServe.api_server sets that the checks here read."""
    from lmdeploy.cli.utils import get_lora_adapters
    from lmdeploy.messages import PytorchEngineConfig

    return PytorchEngineConfig(dtype=args.dtype, cache_max_entry_count=args.cache_max_entry_count,
                               session_len=args.session_len, adapters=get_lora_adapters(args.adapters),
                               logprobs_mode=args.logprobs_mode, eager_mode=args.eager_mode)


def parse_cli(argv):
    args = parse(argv)
    config = engine_config(args)
    return {"command": args.command if hasattr(args, "command") else None, "model_path": args.model_path,
            "model_name": args.model_name, "backend": args.backend, "server_name": args.server_name,
            "server_port": args.server_port, "trust_remote_code": args.trust_remote_code,
            "adapters": config.adapters, "logprobs_mode": config.logprobs_mode,
            "cache_max_entry_count": config.cache_max_entry_count, "session_len": config.session_len}


def validate(argv, route, body):
    from lmdeploy.serve.managers.session_manager import SessionManager
    from lmdeploy.serve.openai.endpoints.common import validate_request
    from lmdeploy.serve.openai.protocol import ChatCompletionRequest, CompletionRequest

    args = parse(argv)
    context = types.SimpleNamespace(engine_config=engine_config(args), session_manager=SessionManager(),
                                    response_parser_cls=None,
                                    async_engine=types.SimpleNamespace(model_name=args.model_name))
    if route == "chat":
        from lmdeploy.serve.openai.chat_completions.validation import check_request
        request = ChatCompletionRequest.model_validate(body)
        error = validate_request(request, context, check_request, json_request=body)
    else:
        from lmdeploy.serve.openai.endpoints.completions import check_request
        request = CompletionRequest.model_validate(body)
        error = validate_request(request, context, check_request)
    if error is None:
        return {"status": None, "message": None}
    return {"status": error.status_code, "message": json.loads(error.body)["message"]}


def render(model_path, messages):
    from transformers import AutoTokenizer

    from lmdeploy.model import HFChatTemplate

    served = HFChatTemplate(model_path=model_path).messages2prompt(messages)
    documented = AutoTokenizer.from_pretrained(model_path).apply_chat_template(messages, tokenize=False)
    return {"served": served, "documented": documented}


def adapter(path):
    from peft import PeftConfig
    from peft.tuners.lora import LoraConfig

    from lmdeploy.pytorch.adapter.adapter import get_ranks_and_scalings

    config = PeftConfig.from_pretrained(path)
    configs = [LoraConfig(r=0, target_modules=[]), config]
    answer = {"r": config.r, "lora_alpha": config.lora_alpha, "lora_dropout": config.lora_dropout,
              "target_modules": sorted(config.target_modules) if config.target_modules is not None else None}
    try:
        names = set()
        for each in configs:
            names = names.union(each.target_modules)
    except TypeError as error:
        return {**answer, "lmdeploy_error": str(error)}
    answer["lmdeploy_targets"] = {}
    for name in sorted(names):
        ranks, scalings = get_ranks_and_scalings(name, configs, device="cpu")
        answer["lmdeploy_targets"][name] = {"rank": int(ranks[1]), "scaling": float(scalings[1])}
    return answer


if __name__ == "__main__":
    arguments = json.loads(sys.stdin.read() or "{}")
    commands = {"parse_cli": parse_cli, "validate": validate, "render": render, "adapter": adapter}
    print(json.dumps(commands[sys.argv[1]](**arguments)))
