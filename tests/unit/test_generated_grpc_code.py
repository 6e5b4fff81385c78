"""The generated code in trading_engine/v1 is committed; it must be what grpcio-tools generates
from proto/ today (regenerate with the command in the README's gRPC section)."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTOS = sorted((ROOT / "proto" / "trading_engine" / "v1").glob("*.proto"))
GENERATED = ROOT / "trading_engine" / "v1"


def generate(out: Path) -> None:
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{Path(protoc.__file__).parent / '_proto'}",
            f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *map(str, PROTOS)]
    assert protoc.main(args) == 0


def test_committed_code_is_what_the_protos_generate(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = {p.name: p.read_text() for p in (tmp_path / "trading_engine" / "v1").iterdir()}
    committed = {p.name: p.read_text() for p in GENERATED.iterdir() if p.name != "__init__.py" and p.is_file()}
    assert sorted(fresh) == sorted(committed), "regenerate trading_engine/v1 (README, gRPC section)"
    for name, text in fresh.items():
        assert committed[name] == text, f"trading_engine/v1/{name} drifted from proto/; regenerate it"


def test_every_proto_follows_the_style_rules() -> None:
    """Package trading_engine.v1; enum zero values are <ENUM>_UNSPECIFIED and every value carries the prefix;
    a request and a response message per RPC, named after it."""
    from trading_engine.v1 import market_pb2, risk_pb2, strategy_pb2, trading_pb2

    for module in (market_pb2, risk_pb2, strategy_pb2, trading_pb2):
        file = module.DESCRIPTOR
        assert file.package == "trading_engine.v1"
        for enum in file.enum_types_by_name.values():
            prefix = "".join(f"_{c}" if c.isupper() else c.upper() for c in enum.name).lstrip("_") + "_"
            assert enum.values_by_number[0].name == prefix + "UNSPECIFIED"
            assert all(value.name.startswith(prefix) for value in enum.values)
        for service in file.services_by_name.values():
            for method in service.methods:
                assert method.input_type.name == f"{method.name}Request"
                assert method.output_type.name == f"{method.name}Response"
