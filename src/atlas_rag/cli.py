"""The ``atlas-rag`` command: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import AtlasRagError
from .records import TYPES
from .settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        key: getattr(args, key, None)
        for key in ("source", "corpus_dir", "vault_dir", "index_dir", "host", "port")
    }
    return Settings.from_env(**overrides)


def _open(args: argparse.Namespace) -> Any:
    from .api import AtlasRAG

    return AtlasRAG.open(settings=_settings(args))


def cmd_build(args: argparse.Namespace) -> int:
    from .api import build_index

    settings = _settings(args)
    report = build_index(settings=settings, render=not args.no_render, progress=not args.quiet)
    print(json.dumps(asdict(report), indent=2) if args.json else report.summary())
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    rag = _open(args)
    hits = rag.search(args.query, k=args.k, types=args.type, tactics=args.tactic)
    if args.json:
        print(json.dumps([asdict(h) for h in hits], indent=2))
        return 0
    if not hits:
        print("No matching ATLAS object.")
    for n, hit in enumerate(hits, start=1):
        print(f"{n}. {hit.id}  {hit.name}  [{hit.type}]  score {hit.score:.3f}")
        print(f"   {hit.snippet}")
        print(f"   {hit.url}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    rag = _open(args)
    record = rag.get(args.id)
    if args.json:
        print(json.dumps(record.to_dict(), indent=2, ensure_ascii=False))
        return 0
    from .answer import render_card

    print(render_card(record, rag.catalog))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    rag = _open(args)
    answer = rag.ask(args.question)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(answer.text)
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    rag = _open(args)
    text = sys.stdin.read() if args.file == "-" else _read_text(Path(args.file))
    hits = rag.map_text(text, k=args.k)
    if args.layer:
        from .navigator import mapping_layer, write_layer

        written = write_layer(mapping_layer(rag.catalog, hits), args.layer)
        print(f"Navigator layer of {len(hits)} technique(s) written to {written}", file=sys.stderr)
    if args.json:
        print(json.dumps([asdict(h) for h in hits], indent=2))
        return 0
    if not hits:
        print("No ATLAS technique is clearly shown in this text.")
    for n, hit in enumerate(hits, start=1):
        tactics = ", ".join(rag.catalog.records[t].name for t in hit.tactics if t in rag.catalog)
        print(f"{n}. {hit.id}  {hit.name}  ({tactics or 'no tactic'})  score {hit.score:.3f}")
        print(f"   evidence: \"{hit.snippet}\"")
    return 0


def cmd_layer(args: argparse.Namespace) -> int:
    from .navigator import write_layer

    sources = [args.case_study is not None, args.ids is not None, args.frequency, args.read is not None]
    if sum(sources) != 1:
        raise AtlasRagError(
            "give one source: a case-study ID, --ids, --frequency or --read",
            "e.g. `atlas-rag layer AML.CS0000 --out cs.json` or `atlas-rag layer --read l.json`",
        )
    rag = _open(args)
    if args.read is not None:
        read = rag.read_layer(_read_bytes(Path(args.read)))
        print(f"{read.name or 'Layer'}: {len(read.ids)} technique(s) "
              f"({len(read.techniques)} row(s)) of ATLAS {rag.version}")
        for row in read.techniques:
            score = f"  score {row.score:g}" if row.score is not None else ""
            print(f"{row.id}  {row.name}  [{row.tactic or 'no tactic'}]{score}")
            if row.comment:
                print(f"   {row.comment}")
        return 0
    if not args.out:
        raise AtlasRagError("--out is required to write a layer", "e.g. --out layer.json")
    ids = args.ids.replace(",", " ").split() if args.ids is not None else None
    layer = rag.layer(args.case_study, ids=ids, frequency=args.frequency, name=args.name)
    written = write_layer(layer, args.out)
    rows = layer["techniques"]
    print(f"{layer['name']}: {len({r['techniqueID'] for r in rows})} technique(s), "
          f"{len(rows)} row(s), written to {written}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .chat import serve

    serve(_settings(args))
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from .mcp_server import serve

    serve(_settings(args), http=args.http, host=args.http_host, port=args.http_port,
          allowed_hosts=args.allow_host or ())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation.run import main as run_eval

    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    return run_eval(args.suite, args.out, _settings(args), args.baselines, folds=args.folds,
                    splits=splits)


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import diff_releases, render_diff

    changes = diff_releases(args.old, args.new)
    print(json.dumps(changes.to_dict(), indent=2) if args.json else render_diff(changes))
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    for env, default, doc in Settings.describe():
        print(f"{env}\n    {doc}\n    default: {default}")
    return 0


def _read_text(path: Path) -> str:
    return _read_bytes(path).decode("utf-8", errors="replace")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AtlasRagError(f"cannot read {path}: {exc.strerror}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atlas-rag", description="Search MITRE ATLAS and get answers that cite ATLAS IDs."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    def index_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--index-dir", type=Path, help="index folder (env ATLAS_RAG_INDEX_DIR)")

    p = add("build", cmd_build, "render an ATLAS release into corpus pages and index them")
    p.add_argument("--source", help="ATLAS.yaml path or URL (default: the pinned release)")
    p.add_argument("--corpus-dir", type=Path, help="corpus folder (env ATLAS_RAG_CORPUS_DIR)")
    p.add_argument("--no-render", action="store_true", help="index the corpus folder as it is")
    p.add_argument("--vault", type=Path, metavar="DIR", dest="vault_dir",
                   help="a team's vault to index on top (its pages replace release pages of "
                        "the same ID); with --no-render and no corpus folder, the vault alone "
                        "(env ATLAS_RAG_VAULT_DIR)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    index_options(p)

    p = add("search", cmd_search, "search ATLAS objects")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="number of results")
    p.add_argument("--type", action="append", choices=TYPES, help="keep only this type (repeatable)")
    p.add_argument("--tactic", action="append", help="keep only objects of this tactic ID")
    p.add_argument("--json", action="store_true")
    index_options(p)

    p = add("show", cmd_show, "show one ATLAS object and its relations")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    index_options(p)

    p = add("ask", cmd_ask, "answer a question, citing ATLAS IDs")
    p.add_argument("question")
    p.add_argument("--json", action="store_true")
    index_options(p)

    p = add("map", cmd_map, "map an incident write-up to the ATLAS techniques it shows")
    p.add_argument("--file", required=True, help="text file, or - for standard input")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.add_argument("--layer", type=Path, metavar="FILE",
                   help="also write the mapped techniques as an ATLAS Navigator layer (JSON)")
    index_options(p)

    p = add("layer", cmd_layer, "write an ATLAS Navigator layer, or read one back")
    p.add_argument("case_study", nargs="?", help="a case study ID: its procedure as a layer")
    p.add_argument("--ids", help="technique IDs, separated by commas")
    p.add_argument("--frequency", action="store_true",
                   help="how many case studies used each technique (score = the count)")
    p.add_argument("--read", type=Path, metavar="FILE",
                   help="list the techniques of a layer exported from the Navigator")
    p.add_argument("--out", type=Path, help="file to write the layer to")
    p.add_argument("--name", help="the layer's name (with --ids)")
    index_options(p)

    p = add("chat", cmd_chat, "serve the chat assistant in the browser")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    index_options(p)

    p = add("mcp", cmd_mcp, "serve the ATLAS tools to MCP clients (stdio, or --http)")
    p.add_argument("--http", action="store_true",
                   help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio "
                        "(a token from ATLAS_RAG_MCP_TOKEN is required when set)")
    p.add_argument("--host", dest="http_host", default="127.0.0.1",
                   help="address to bind with --http (default 127.0.0.1)")
    p.add_argument("--port", dest="http_port", type=int, default=8765,
                   help="port with --http (default 8765)")
    p.add_argument("--allow-host", action="append", metavar="NAME",
                   help="a Host name clients may use besides loopback (repeatable)")
    index_options(p)

    p = add("eval", cmd_eval, "measure retrieval quality against the eval sets and baselines")
    p.add_argument("--suite", default="all", help="all, or one of: id, name, concept, ...")
    p.add_argument("--out", type=Path, default=Path("reports"), help="report folder")
    p.add_argument("--source", help="ATLAS.yaml for the procedure folds")
    p.add_argument("--no-baselines", dest="baselines", action="store_false")
    p.add_argument("--folds", type=int, default=2,
                   help="case-study folds of the held-out procedure and mapping evals (default 2: "
                        "each fold holds out half the case studies)")
    p.add_argument("--splits", default="dev,test",
                   help="parts of our own eval sets to score: dev,test (default) or test, the "
                        "gated part CI scores")
    index_options(p)

    p = add("diff", cmd_diff, "list objects added, removed and changed between two releases")
    p.add_argument("old", help="older ATLAS.yaml")
    p.add_argument("new", help="newer ATLAS.yaml")
    p.add_argument("--json", action="store_true")

    add("settings", cmd_settings, "list every setting with its environment variable")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "chromadb", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except AtlasRagError as exc:
        print(f"atlas-rag: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("atlas-rag: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
