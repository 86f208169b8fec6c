"""``tkre data fetch``: download the public FSRE datasets and check every file's sha256.

Usage: ``fetch("data")`` or ``tkre data fetch --dest data`` then ``export TKRE_DATA_DIR=data``
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tkre.errors import ConfigError, UserError

HOMES = {
    "fewrel": "https://raw.githubusercontent.com/thunlp/FewRel/master/data/",
    "wiki80": "https://raw.githubusercontent.com/hanjiale/GenPT/main/data/wiki80/",
    "semeval": "https://raw.githubusercontent.com/thunlp/RE-Context-or-Names/master/finetune/supervisedRE/data/semeval/",
}

# dataset -> {path under the dataset folder: sha256}
SHA256 = {
    "fewrel": {
        "pid2name.json": "eeedd25512a8e4c2bc06b78009836d27de81807bcba6ed929debd5cd713c07ea",
        "val_wiki.json": "76bb44c2485b6faed358a3ce040eadafcc8a8835245cd7e6afc1bef672d4a0bf",
    },
    "wiki80": {
        "dev.json": "68ea19dc246e1b1194b1bc0575ea7b5d1f625980d3bcacebd439353d0e64d027",
        "k-shot/16-100/dev.json": "c6587882ace82ed2b764e1f210265a91a44b3b0d130604475c4529e716fe8aa1",
        "k-shot/16-100/train.json": "e543cb29d9db6390a566fe0022d7bc1688319638a34d1719429cfa2a429ba1f7",
        "k-shot/16-13/dev.json": "ec6b9f228a1a4d977564ca383a237fbd37555743b2259143240bf5f255e16db2",
        "k-shot/16-13/train.json": "691136568242fe53db9dc7b2b50ba2f674cc7c85de2a96ca8542f9a903d92d17",
        "k-shot/16-21/dev.json": "03e7d9b9970891d43a6daadb819af76ff19a1b122bbaeef2b984c2bd57fb0125",
        "k-shot/16-21/train.json": "489a4d8ac484b3fa39f9e1d32a9b0a16b909900728c4ed07b982c34e40a6f107",
        "k-shot/16-42/dev.json": "e57f202b8ba7414512f296d9e330a55e7b8e14bba4e08b23f99fba1abb3cdc45",
        "k-shot/16-42/train.json": "eb070b6fe66b1e0a74483547bba25b3a6f1b3447f3630b0dbb268e402ef66fd1",
        "k-shot/16-87/dev.json": "7727beae99ae33da166d17b157d5319c8e90f5e1007e73c6ca73e2cb31e2496e",
        "k-shot/16-87/train.json": "3ac083ca1dc9ecdfc8a3307850766840d01768941a856159652dee372f8a8ea8",
        "k-shot/32-100/dev.json": "17812a1463cf2b0d25bf04e4dfd2a6b3cc485dd6fcf813ef482167b3d2236639",
        "k-shot/32-100/train.json": "9cc045e99b7fc76446123c75a5f93ee48bd7514353865dea75bc8d2ed867a8c2",
        "k-shot/32-13/dev.json": "706caf0d58ce17f73309353cf13d5f98610311a6c060dbfe20199869fdd1a142",
        "k-shot/32-13/train.json": "eebdcf8671cfdf6589853669c3ac5d5c5323a0879242178e679429e35af70b57",
        "k-shot/32-21/dev.json": "eae2103378aa1bec68aa8b94689ff0952fbeb1c20c4dfb8437a3a0e02e876470",
        "k-shot/32-21/train.json": "9589707d3a4363b905af8dec7efc8e47a12f585e366d0aa71e1ba946cb253d70",
        "k-shot/32-42/dev.json": "d8ad6a35b206de5a762f476ac2f4e708c7f14fc8d6c6bf65dd5f5bf27b164d00",
        "k-shot/32-42/train.json": "a4a7c040c0fe45370fd822ca4c804e07e69b10706152af0067528d8826ceee49",
        "k-shot/32-87/dev.json": "300016286a554709180f32c9487118509464395535feb964b894f493e73a42d0",
        "k-shot/32-87/train.json": "d2baa3049a55fe271f527ac912c37a7f7794eb1a2028a0af05fd21b7dcc4044c",
        "k-shot/8-100/dev.json": "dcffeb482ce971664deaea4aa89975af07fd36f60de83f95b89d577986d69f93",
        "k-shot/8-100/train.json": "99e706f27b02e035318b22e12bd0689293a5198db55398a69297d0dc67911317",
        "k-shot/8-13/dev.json": "82b0dfd81c2e809f7ddf534dd342257c5334d6ac146ebf2f4b00c642b931507d",
        "k-shot/8-13/train.json": "55aeeab06a627931f343c0a6af37fd1c176843699a352de7314f23708649d64b",
        "k-shot/8-21/dev.json": "ff6af56f62ca113c2257e49e5e2760ddfcdfcbfdd2c16162ca72cd2df37c3ee3",
        "k-shot/8-21/train.json": "a80e8dcbe3335a5ca167e398c9ed91a7d6907d9f5062156e043228fbf73d3ea1",
        "k-shot/8-42/dev.json": "65052aefb534031827dad87890e8c992fbf83912287ac26ca61519484d7e28e0",
        "k-shot/8-42/train.json": "e61e45ecedf5418cbed7e7abfdb48a339ee73fac7c00dc542b6a28ddc1fa1691",
        "k-shot/8-87/dev.json": "a22335e9bb8c433d6d91555cd35ad0b8ee7f5dcdca8f4ee789004a5e7b323e28",
        "k-shot/8-87/train.json": "b016b9b8828ee1048e604640bf5f997fc9b77ca45a5c88c5a2b8935cab504926",
        "rel2id.json": "6ac5b50c2805cf39ce914477c732a325eb6132e2a60ba1878176ba0a3df541a6",
        "test.json": "d412fe04567413dbeee7541b271975ac31925987f4a7b77256755c730502a177",
    },
    "semeval": {
        "dev.txt": "a91170e7c19354a895a58e582bf7fad43994467a0d27a8632319a70840b88e02",
        "rel2id.json": "0c2c724d3a81fb81b02cd8d5ad0200456041737a4309ab05809d2df5727c2d73",
        "test.txt": "1f33efe3db4dc6ff99f52416331682f3ec6759de526786d3629e6b43f8020795",
        "train.txt": "5a53be5e2dfbf865f77c287deec7b9e8a12be333ffb6157bfb5a692250a06220",
    },
}


class DownloadFailed(UserError, ConnectionError):
    """A dataset file that could not be downloaded."""


class ChecksumMismatch(UserError, ValueError):
    """A downloaded file whose sha256 is not the expected one; nothing was written."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, target: Path, expected: str, timeout: float, dataset: str) -> None:
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        partial.unlink(missing_ok=True)
        raise DownloadFailed(
            f"cannot download {url}: {getattr(e, 'reason', e)}. Without a network: run `tkre data fetch --dest DIR` "
            f"on a machine that has one (or download {HOMES[dataset]} by hand into DIR/{dataset}/, same layout), "
            f"copy DIR here and set TKRE_DATA_DIR=DIR; or pass --mirror {dataset}=URL for a reachable copy."
        ) from None
    got = sha256_of(partial)
    if got != expected:
        partial.unlink()
        raise ChecksumMismatch(f"{url}: sha256 {got} does not match the expected {expected}; nothing was written to {target}")
    os.replace(partial, target)


def fetch(dest: str | Path = "data", only: list[str] | None = None, base_urls: dict[str, str] | None = None,
          timeout: float = 30.0) -> dict:
    """Downloads what is missing or changed under ``dest``; returns counts per outcome."""
    dest = Path(dest)
    names = only or list(SHA256)
    unknown = sorted(set(names) - set(SHA256))
    if unknown:
        raise ConfigError(f"--only: unknown datasets {unknown}; choose from {', '.join(SHA256)}")
    homes = {**HOMES, **(base_urls or {})}
    downloaded = present = 0
    for name in names:
        for relative, expected in SHA256[name].items():
            target = dest / name / relative
            if target.is_file() and sha256_of(target) == expected:
                present += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            url = homes[name].rstrip("/") + "/" + relative
            print(f"fetch {url}", file=sys.stderr)
            _download(url, target, expected, timeout, name)
            downloaded += 1
    return {"dest": str(dest), "datasets": names, "downloaded": downloaded, "already_present": present}
