"""The command-line front ends: flags in, library calls, results out. The work lives in the library.

    python scripts/train.py --train_data input.txt --hidden_size 256     # tfcharrnn.cli.train
    python scripts/sample.py cv/ --length 500 --prime "ROMEO:"           # tfcharrnn.cli.sample (also NAME.tflite)
    python scripts/evaluate.py cv/ held_out.txt                           # tfcharrnn.cli.evaluate
    python scripts/export.py cv/ --name shakespeare                       # tfcharrnn.cli.export
    python scripts/sweep.py --hidden_size 128,256 --time_budget 5         # tfcharrnn.cli.sweep
    python scripts/flags_doc.py > docs/flags.md                           # every flag, from the parsers

One module per tool, each with main(argv=None) -> exit status and entry() for the console
scripts (tfcharrnn-train, -sample, -evaluate, -export, -sweep); every flag is declared in
flags.py. The rule: dependencies run one way. These modules import the library; nothing in the
library (tfcharrnn/ outside this package) imports this package, top-level or inside a function
(tests/test_layout.py checks it).
"""
