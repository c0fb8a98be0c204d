"""pip install -e ".[test]"   (add ,bench for the PyTorch peer of scripts/bench.py)"""

from setuptools import find_packages, setup

setup(
    name="tfcharrnn",
    version="0.1.0",
    description="Character-level RNN language models (LSTM / GRU / RNN) on TensorFlow 2 and Keras 3, "
    "with TF Serving and TFLite / LiteRT export",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The web page's sources live in the checkout's web/ (beside its node_modules, which stay out);
    # a wheel ships them as tfcharrnn/assets/web/, where tfcharrnn.web.page_dir() finds them.
    packages=find_packages(include=["tfcharrnn", "tfcharrnn.*"]) + ["tfcharrnn.assets.web"],
    package_dir={"tfcharrnn.assets.web": "web"},
    package_data={"tfcharrnn": ["assets/*.txt"],
                  "tfcharrnn.assets.web": ["index.html", "app.js", "sampler.js", "style.css", "package.json", "package-lock.json"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "tensorflow-datasets>=4.9,<5",
        "numpy>=1.26,<3",
        "ai-edge-litert>=2.3,<3",
        "tensorboard>=2.20",
        "matplotlib>=3.8",
        "importlib_resources>=5",  # tensorflow-datasets imports it but declares it only for Python < 3.9
        "keras-tuner[bayesian]>=1.4.8,<2",  # [bayesian]: scipy and scikit-learn, for sweep.py --search bayesian
    ],
    extras_require={
        # setuptools: tests/test_install.py builds the wheel without build isolation
        "test": ["pytest>=8", "hypothesis>=6.100", "tensorflow-serving-api>=2.21,<2.22", "playwright>=1.40", "setuptools>=70.1", "ruff>=0.6"],
        "serving": ["tensorflow-serving-api>=2.19"],
        "bench": ["torch==2.13.0", "psutil"],
    },
    entry_points={
        "console_scripts": [
            "tfcharrnn-train=tfcharrnn.cli.train:entry",
            "tfcharrnn-sample=tfcharrnn.cli.sample:entry",
            "tfcharrnn-evaluate=tfcharrnn.cli.evaluate:entry",
            "tfcharrnn-export=tfcharrnn.cli.export:entry",
            "tfcharrnn-sweep=tfcharrnn.cli.sweep:entry",
        ]
    },
)
