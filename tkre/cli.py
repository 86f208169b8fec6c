"""The ``tkre`` command. Each scoring command prints one JSON object as its last stdout line.

Usage::

    tkre data fetch --dest data
    tkre eval episodic --data fewrel --split val --n-way 5 --k-shot 1 --episodes 1000 --seed 0 --model minilm
    tkre finetune --data wiki80 --k-shot 8 --seeds 13,21,42,87,100 --model minilm
    tkre synth --config jobs/configs/synthesize/smoke.yaml [--set llm.base_url=http://host:8000/v1]
    tkre pretrain mslm --config jobs/configs/pretrain_mslm/smoke.yaml [--set loop.max_steps=20]
    tkre meta-train --config jobs/configs/meta_train/proto_minilm.yaml [--set init_from=runs/scl_minilm/export]
    tkre sweep --space tune_spaces/scl_temperature_shots.yaml [--storage s3://bucket/sweeps]
    tkre pipeline --config jobs/configs/pipeline/demo.yaml [--set run_dir=s3://bucket/tkre/demo]
"""

from __future__ import annotations

import argparse
import json
import sys

from tkre.data.instance import DataError


def _episodic(args: argparse.Namespace) -> dict:
    from tkre.data.datasets import limit_per_relation, load_split
    from tkre.data.episodes import load_episodes, sample_episodes, save_episodes
    from tkre.eval.episodic import evaluate_episodes
    from tkre.models.encoder import RelationEncoder, default_device

    instances = limit_per_relation(load_split(args.data, args.split, args.data_dir), args.limit_per_relation)
    if args.episodes_file:
        episodes = load_episodes(args.episodes_file, instances)
    else:
        episodes = sample_episodes(instances, args.n_way, args.k_shot, args.n_query, args.episodes, args.seed, args.na_rate)
    if args.save_episodes:
        save_episodes(args.save_episodes, episodes)
    encoder = RelationEncoder(args.model, args.pooling, args.typed_markers, args.max_length).to(default_device())
    result = evaluate_episodes(
        encoder, instances, episodes, batch_size=args.batch_size, metric=args.metric, nota_threshold=args.nota_threshold
    )
    return {"data": args.data, "split": args.split, "model": args.model, "pooling": args.pooling, "seed": args.seed,
            "na_rate": args.na_rate, **result}


def _finetune(args: argparse.Namespace) -> dict:
    from tkre.eval.finetune import FinetuneConfig, finetune_seeds

    cfg = FinetuneConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, max_length=args.max_length)
    seeds = [int(s) for s in args.seeds.split(",")]
    return finetune_seeds(args.data, args.k_shot, seeds, cfg, args.data_dir, args.limit_per_relation)


def _synth(args: argparse.Namespace) -> dict:
    from jobs.synthesize import run

    return run(args.config, args.set)


def _pretrain(args: argparse.Namespace) -> dict:
    from jobs.pretrain import run

    return run(args.stage, args.config, args.set)


def _sweep(args: argparse.Namespace) -> dict:
    from jobs.sweep import run

    return run(args.space, args.storage, args.name, args.set, args.max_concurrent)


def _pipeline(args: argparse.Namespace) -> dict:
    from jobs.pipeline import StageFailed, load, run

    try:
        return run(*load(args.config, args.set))
    except StageFailed as error:  # its stage stays unfinished: the same command resumes it
        print(f"tkre: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def _meta_train(args: argparse.Namespace) -> dict:
    from jobs.meta_train import MetaTrainJobConfig, meta_train
    from tkre.config import load_config

    return meta_train(load_config(MetaTrainJobConfig, args.config, args.set))


def _fetch(args: argparse.Namespace) -> dict:
    from tkre.data.fetch import fetch

    return fetch(args.dest, only=args.only.split(",") if args.only else None, base_urls=dict(args.mirror or []))


def _mirror(value: str) -> tuple[str, str]:
    name, _, url = value.partition("=")
    if not url:
        raise argparse.ArgumentTypeError("expected DATASET=URL")
    return name, url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tkre", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    fetch = data.add_parser("fetch", help="download FewRel, Wiki80 and SemEval with sha256 checks")
    fetch.add_argument("--dest", default="data", help="folder to write (point TKRE_DATA_DIR at it)")
    fetch.add_argument("--only", help="comma-separated subset of fewrel,wiki80,semeval")
    fetch.add_argument("--mirror", type=_mirror, action="append", metavar="DATASET=URL", help="another base URL for a dataset")
    fetch.set_defaults(run=_fetch)

    evaluate = commands.add_parser("eval", help="evaluation").add_subparsers(dest="eval_command", required=True)
    ep = evaluate.add_parser("episodic", help="N-way K-shot episodic evaluation with prototypes")
    ep.add_argument("--data", default="fewrel")
    ep.add_argument("--split", default="val")
    ep.add_argument("--n-way", type=int, default=5)
    ep.add_argument("--k-shot", type=int, default=1)
    ep.add_argument("--n-query", type=int, default=5, help="queries per relation")
    ep.add_argument("--na-rate", type=float, default=0.0, help="none-of-the-above queries per episode, as a multiple of --n-query")
    ep.add_argument("--nota-threshold", type=float, help="predict none-of-the-above below this prototype score")
    ep.add_argument("--episodes", type=int, default=1000)
    ep.add_argument("--seed", type=int, default=0)
    ep.add_argument("--pooling", default="marker", choices=("marker", "entity", "mean"))
    ep.add_argument("--metric", default="euclidean", choices=("euclidean", "dot", "cosine"))
    ep.add_argument("--typed-markers", action="store_true", help="typed markers where the data has entity types")
    ep.add_argument("--save-episodes", help="freeze the sampled episodes to this JSONL file")
    ep.add_argument("--episodes-file", help="evaluate these frozen episodes instead of sampling")
    ep.add_argument("--limit-per-relation", type=int, help="keep the first N instances of each relation")
    _model_args(ep)
    ep.set_defaults(run=_episodic)

    ft = commands.add_parser("finetune", help="K-shot fine-tuning with the paper's protocol")
    ft.add_argument("--data", default="wiki80", choices=("wiki80", "semeval"))
    ft.add_argument("--k-shot", type=int, default=8)
    ft.add_argument("--seeds", default="13,21,42,87,100")
    ft.add_argument("--epochs", type=int, default=20)
    ft.add_argument("--lr", type=float, default=3e-5)
    ft.add_argument("--limit-per-relation", type=int, help="keep the first N dev and test instances of each relation")
    _model_args(ft, batch_size=16)
    ft.set_defaults(run=_finetune)

    synth = commands.add_parser("synth", help="EDKG explanations and SCDG synthetic instances through an LLM")
    synth.add_argument("--config", required=True, help="a YAML file such as jobs/configs/synthesize/smoke.yaml")
    synth.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    synth.set_defaults(run=_synth)
    pretrain = commands.add_parser("pretrain", help="pre-training on Ray Train: mslm (stage 1) or scl (stage 2)")
    pretrain.add_argument("stage", choices=["mslm", "scl"])
    pretrain.add_argument("--config", required=True, help="a YAML file such as jobs/configs/pretrain_mslm/smoke.yaml")
    pretrain.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    pretrain.set_defaults(run=_pretrain)
    meta = commands.add_parser("meta-train", help="prototypical meta-training on the Wiki80 relations unseen in FewRel val")
    meta.add_argument("--config", required=True, help="a YAML file such as jobs/configs/meta_train/proto_minilm.yaml")
    meta.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    meta.set_defaults(run=_meta_train)
    sweep = commands.add_parser("sweep", help="Ray Tune search over the SCL stage, scored by episodic validation")
    sweep.add_argument("--space", required=True, help="a YAML file such as tune_spaces/scl_temperature_shots.yaml")
    sweep.add_argument("--storage", default="runs/sweeps", help="a folder or s3:// prefix for trials and results")
    sweep.add_argument("--name", help="the sweep's folder under --storage (default: the space file's name)")
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a base config key")
    sweep.add_argument("--max-concurrent", type=int, help="at most this many trials at once")
    sweep.set_defaults(run=_sweep)
    pipeline = commands.add_parser("pipeline", help="synth -> mslm -> scl -> eval -> report, resumable, in one run dir")
    pipeline.add_argument("--config", required=True, help="a YAML file such as jobs/configs/pipeline/demo.yaml")
    pipeline.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    pipeline.set_defaults(run=_pipeline)
    return parser


def _model_args(parser: argparse.ArgumentParser, batch_size: int = 64) -> None:
    parser.add_argument("--model", default="minilm", help="minilm (packaged), a local folder or a hub name")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--data-dir", help="data folder (default: $TKRE_DATA_DIR, else ./data)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except (DataError, FileNotFoundError, ValueError, ConnectionError) as e:
        print(f"tkre: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
