"""ms-swift plugin (loaded with --external_plugins in 4.x, --custom_register_path in 3.x): chat
templates whose output does not depend on the day a job runs.

ms-swift's `llama3_2` template, which it registers for Llama-3.1-Instruct, writes the current date
into every system prompt ("Today Date: 30 Nov 2026"): seeds trained on different days see
different prompts, and a model served on another day than it was trained gets a prompt it never
saw. `llama3_1_pinned_date` is the same template with the date Llama-3.1's own chat template
writes by default ("26 Jul 2024"), so training, `swift deploy` and engines that apply the
tokenizer's chat template (LMDeploy, vLLM) all give the same ids (tests/test_template_parity.py).

Imported by ms-swift inside a model's runtime; it imports nothing from mhcompare.
"""
try:  # ms-swift 4.x
    from swift.template import TEMPLATE_MAPPING, register_template
    from swift.template.templates.llama import Llama3_2TemplateMeta
except ImportError:  # ms-swift 3.x
    from swift.llm.template import TEMPLATE_MAPPING, register_template
    from swift.llm.template.template.llama import Llama3_2TemplateMeta

LLAMA3_1_DATE = "26 Jul 2024"  # the default `date_string` of Llama-3.1-Instruct's tokenizer_config.json
LLAMA3_1_PREFIX = ["<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                   f"Cutting Knowledge Date: December 2023\nToday Date: {LLAMA3_1_DATE}\n\n"
                   "{{SYSTEM}}<|eot_id|>"]

if "llama3_1_pinned_date" not in TEMPLATE_MAPPING:
    register_template(Llama3_2TemplateMeta("llama3_1_pinned_date", prefix=LLAMA3_1_PREFIX))
