"""Host specs: NAME=URL options (every refusal), -H/$DOCKER_HOST, and Docker contexts as the docker CLI
stores them (written by the real `docker` CLI when it is installed, else the files it was seen to write)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dockwire.errors import DockwireError
from dockwire.hosts import (
    HostSpec,
    TlsInfo,
    context_host,
    context_id,
    current_context,
    is_local,
    parse_host_option,
    spec_for_docker_host,
    ssh_target,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No DOCKER_HOST/DOCKER_CONTEXT/TLS settings from the developer's shell; an empty DOCKER_CONFIG."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    for name in ("DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "docker-config"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    return config


# --- TLS from the environment, as the docker CLI takes it ---------------------------------------------------


def test_tls_settings_of_the_environment_apply_to_tcp_hosts_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_env: Path
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for f in ("ca", "cert", "key"):
        (certs / f"{f}.pem").write_text("PEM\n")
    assert parse_host_option("tcp://198.51.100.9:2376").tls is None  # nothing set: plain HTTP

    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs))
    tls = parse_host_option("b=tcp://198.51.100.9:2376").tls
    assert tls == TlsInfo(
        path=str(certs),
        ca=f"{certs}/ca.pem",
        cert=f"{certs}/cert.pem",
        key=f"{certs}/key.pem",
        skip_verify=False,
    )
    assert spec_for_docker_host("tcp://198.51.100.9:2376").tls == tls  # -H and $DOCKER_HOST alike
    assert parse_host_option("unix:///run/dwlab-hostb.sock").tls is None
    assert parse_host_option("ssh://root@198.51.100.242").tls is None

    monkeypatch.setenv("DOCKER_TLS_VERIFY", "")  # empty is off, as for the CLI
    monkeypatch.setenv("DOCKER_TLS", "1")
    monkeypatch.delenv("DOCKER_CERT_PATH")
    (clean_env / "ca.pem").write_text("PEM\n")  # the configuration directory stands in for the cert path
    tls = parse_host_option("tcp://198.51.100.9:2376").tls
    assert tls == TlsInfo(path=str(clean_env), ca=f"{clean_env}/ca.pem", skip_verify=True)


# --- options ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "url", "kind"),
    [
        ("b=ssh://root@203.0.113.2", "b", "ssh://root@203.0.113.2", "ssh"),
        ("ssh://root@203.0.113.2:2222", "203.0.113.2", "ssh://root@203.0.113.2:2222", "ssh"),
        ("ssh://host-b.example", "host-b.example", "ssh://host-b.example", "ssh"),
        ("v6=ssh://root@[2001:db8::2]:22", "v6", "ssh://root@[2001:db8::2]:22", "ssh"),
        ("ssh://[2001:db8::2]", "2001:db8::2", "ssh://[2001:db8::2]", "ssh"),
        ("tcp://198.51.100.9:2375", "198.51.100.9", "tcp://198.51.100.9:2375", "docker"),
        ("t=tcp://198.51.100.9:2376/", "t", "tcp://198.51.100.9:2376/", "docker"),
        ("unix:///run/dwlab-hostb.sock", "dwlab-hostb", "unix:///run/dwlab-hostb.sock", "docker"),
        ("here=unix:///var/run/docker.sock", "here", "unix:///var/run/docker.sock", "local"),
        ("unix:///run/docker.sock", "local", "unix:///run/docker.sock", "local"),
    ],
)
def test_options_name_the_host(text: str, name: str, url: str, kind: str) -> None:
    spec = parse_host_option(text)
    assert (spec.name, spec.url, spec.kind) == (name, url, kind)
    assert spec.context == "" and spec.tls is None and spec.ssh_options == []


def test_ssh_options_are_kept_and_the_target_split() -> None:
    spec = parse_host_option("b=ssh://root@203.0.113.2:2222", ["-i", "/k"])
    assert spec.ssh_options == ["-i", "/k"]
    assert ssh_target(spec.url) == ("root@203.0.113.2", 2222)
    assert ssh_target("ssh://[2001:db8::2]") == ("2001:db8::2", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no Docker host given"),
        ("b=", "no URL after '='"),
        ("=ssh://h", "no name before '='"),
        ("-b=ssh://h", "bad host name '-b'"),
        ("a b=ssh://h", "bad host name 'a b'"),
        ("x" * 129 + "=ssh://h", "bad host name"),
        ("hostb", "not a URL"),
        ("b=203.0.113.2", "not a URL"),
        ("http://h:2375", "scheme 'http' is not supported"),
        ("npipe:////./pipe/docker_engine", "scheme 'npipe' is not supported"),
        ("ssh://", "no host"),
        ("ssh://root@", "no host"),
        ("ssh://-oProxyCommand=touch%20x", "is not a host name"),
        ("ssh://-oProxyCommand=x@h", "is not a user name"),
        ("ssh://u:secret@h", "a password in the URL is not supported"),
        ("ssh://h/var/run/docker.sock", "ssh:// takes no path"),
        ("ssh://h?x=1", "a query or fragment is not allowed"),
        ("ssh://h#x", "a query or fragment is not allowed"),
        ("ssh://h:0", "port 0"),
        ("ssh://h:99999", "Port out of range"),
        ("ssh://h:port", "Port could not be cast"),
        ("ssh://[2001:db8::zz]", "does not appear to be an IPv4 or IPv6 address"),
        ("ssh://h b", "spaces or control characters"),
        ("ssh://h\x1b[2J", "spaces or control characters"),
        ("tcp://u@h:2375", "tcp:// takes no user"),
        ("tcp://h:2375/v1.45", "a path after the host"),
        ("unix://", "unix:///ABSOLUTE/PATH"),
        ("unix://host/run/docker.sock", "unix:///ABSOLUTE/PATH"),
        ("unix:///", "unix:///ABSOLUTE/PATH"),
    ],
)
def test_bad_options_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(DockwireError) as err:
        parse_host_option(text)
    assert message in str(err.value)
    assert str(err.value).isprintable()  # one line, controls escaped


@pytest.mark.parametrize("url", [None, ""])
def test_no_docker_host_is_the_local_host(url: str | None) -> None:
    spec = spec_for_docker_host(url)
    assert spec == HostSpec(name="local", url="", local_host_part=True)
    assert is_local(spec) and spec.kind == "local"


def test_a_remote_docker_host_never_gets_this_machines_host_part() -> None:
    assert spec_for_docker_host("tcp://198.51.100.9:2375").kind == "docker"
    assert spec_for_docker_host("ssh://root@203.0.113.2").kind == "ssh"
    other = spec_for_docker_host("unix:///run/dwlab-hostb.sock")
    assert is_local(other) and not other.local_host_part and other.kind == "docker"
    assert spec_for_docker_host("unix:///var/run/docker.sock").kind == "local"


# --- contexts -----------------------------------------------------------------------------------------------

#: What docker 28.2.2's `docker context create` wrote (meta.json verbatim), for machines without the CLI.
RECORDED_META = {
    "hostb": '{"Name":"hostb","Metadata":{"Description":"host b"},"Endpoints":{"docker":'
    '{"Host":"ssh://root@203.0.113.2:2222","SkipTLSVerify":false}}}',
    "tlsd": '{"Name":"tlsd","Metadata":{},"Endpoints":{"docker":'
    '{"Host":"tcp://198.51.100.9:2376","SkipTLSVerify":true}}}',
    "catls": '{"Name":"catls","Metadata":{},"Endpoints":{"docker":'
    '{"Host":"tcp://198.51.100.9:2376","SkipTLSVerify":false}}}',
    "sockb": '{"Name":"sockb","Metadata":{},"Endpoints":{"docker":'
    '{"Host":"unix:///run/dwlab-hostb.sock","SkipTLSVerify":false}}}',
    "plain": '{"Name":"plain","Metadata":{},"Endpoints":{"docker":'
    '{"Host":"tcp://198.51.100.9:2375","SkipTLSVerify":false}}}',
}
RECORDED_TLS = {"tlsd": ("ca", "cert", "key"), "catls": ("ca",)}


def write_recorded(config: Path) -> None:
    for name, meta in RECORDED_META.items():
        meta_dir = config / "contexts" / "meta" / context_id(name)
        meta_dir.mkdir(parents=True)
        (meta_dir / "meta.json").write_text(meta)
        for f in RECORDED_TLS.get(name, ()):
            tls = config / "contexts" / "tls" / context_id(name) / "docker"
            tls.mkdir(parents=True, exist_ok=True)
            (tls / f"{f}.pem").write_text("PEM\n")
    (config / "config.json").write_text('{\n\t"auths": {},\n\t"currentContext": "hostb"\n}')


def create_with_docker_cli(config: Path) -> None:
    """The same contexts, made by `docker context create` and `docker context use`."""
    certs = config.parent / "certs"
    certs.mkdir()
    keys = ["-keyout", str(certs / "key.pem"), "-out", str(certs / "cert.pem")]
    openssl = "openssl req -x509 -newkey ed25519 -nodes -subj /CN=dwtest -days 1"
    subprocess.run([*openssl.split(), *keys], check=True, capture_output=True)
    c = certs
    endpoints = {
        "hostb": "host=ssh://root@203.0.113.2:2222",
        "tlsd": f"host=tcp://198.51.100.9:2376,ca={c}/cert.pem,cert={c}/cert.pem,key={c}/key.pem,"
        "skip-tls-verify=true",
        "catls": f"host=tcp://198.51.100.9:2376,ca={c}/cert.pem",
        "sockb": "host=unix:///run/dwlab-hostb.sock",
        "plain": "host=tcp://198.51.100.9:2375",
        "sshca": f"host=ssh://u@203.0.113.2,ca={c}/cert.pem",  # TLS material an ssh endpoint never uses
    }
    env = {"DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    for name, endpoint in endpoints.items():
        extra = ["--description", "host b"] if name == "hostb" else []
        subprocess.run(
            ["docker", "context", "create", name, *extra, "--docker", endpoint],
            check=True,
            capture_output=True,
            env=env,
        )
    subprocess.run(["docker", "context", "use", "hostb"], check=True, capture_output=True, env=env)


@pytest.fixture(params=["docker-cli", "recorded"])
def contexts(request: pytest.FixtureRequest, clean_env: Path) -> str:
    if request.param == "docker-cli":
        if shutil.which("docker") is None or shutil.which("openssl") is None:
            pytest.skip("no docker CLI (or openssl) to create contexts with")
        create_with_docker_cli(clean_env)
    else:
        write_recorded(clean_env)
    return str(request.param)


def tls_dir(config: Path, name: str) -> str:
    return str(config / "contexts" / "tls" / context_id(name) / "docker")


def test_contexts_read_as_the_docker_cli_wrote_them(contexts: str, clean_env: Path) -> None:
    assert current_context() == "hostb"
    hostb = context_host("hostb", ["-i", "/k"])
    assert hostb == HostSpec(
        name="hostb", url="ssh://root@203.0.113.2:2222", context="hostb", ssh_options=["-i", "/k"]
    )
    assert hostb.kind == "ssh"
    d = tls_dir(clean_env, "tlsd")
    tlsd = context_host("tlsd")
    assert (tlsd.url, tlsd.kind) == ("tcp://198.51.100.9:2376", "docker")
    assert tlsd.tls == TlsInfo(d, f"{d}/ca.pem", f"{d}/cert.pem", f"{d}/key.pem", skip_verify=True)
    d = tls_dir(clean_env, "catls")
    assert context_host("catls").tls == TlsInfo(d, ca=f"{d}/ca.pem")
    assert context_host("plain").tls is None  # no material, verification on: plain HTTP, as docker does
    sockb = context_host("sockb")
    assert (sockb.url, sockb.kind, sockb.local_host_part, sockb.tls) == (
        "unix:///run/dwlab-hostb.sock",
        "docker",
        False,
        None,
    )
    if contexts == "docker-cli":
        assert (Path(tls_dir(clean_env, "sshca")) / "ca.pem").is_file()
        assert context_host("sshca").tls is None


def test_the_current_context_follows_the_docker_cli(contexts: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "tlsd")
    assert current_context() == "tlsd"
    monkeypatch.setenv("DOCKER_HOST", "tcp://198.51.100.9:2375")  # docker 28: DOCKER_HOST wins
    assert current_context() == "default"
    if contexts == "docker-cli":
        shown = subprocess.run(["docker", "context", "show"], capture_output=True, text=True, check=True)
        assert shown.stdout.strip() == "default"


def test_no_config_means_the_default_context(clean_env: Path) -> None:
    assert current_context() == "default"
    (clean_env / "config.json").write_text('{"auths": {}}')
    assert current_context() == "default"
    (clean_env / "config.json").write_text("{not json")
    with pytest.raises(DockwireError, match="cannot read"):
        current_context()


def test_the_default_context_is_docker_host_else_local(monkeypatch: pytest.MonkeyPatch) -> None:
    assert context_host("default") == HostSpec(
        name="default", url="", context="default", local_host_part=True
    )
    monkeypatch.setenv("DOCKER_HOST", "ssh://root@203.0.113.2")
    spec = context_host("default")
    assert (spec.name, spec.url, spec.kind) == ("default", "ssh://root@203.0.113.2", "ssh")


def test_context_errors_are_one_line(clean_env: Path) -> None:
    with pytest.raises(DockwireError, match="no Docker context 'nope'"):
        context_host("nope")
    with pytest.raises(DockwireError, match="bad Docker context name"):
        context_host("a b")
    meta = clean_env / "contexts" / "meta"
    for name, text in {
        "broken": "{",
        "noend": '{"Name":"noend","Metadata":{},"Endpoints":{}}',
        "badurl": json.dumps({"Name": "badurl", "Endpoints": {"docker": {"Host": "http://h"}}}),
    }.items():
        (meta / context_id(name)).mkdir(parents=True)
        (meta / context_id(name) / "meta.json").write_text(text)
    with pytest.raises(DockwireError, match="'broken': cannot read"):
        context_host("broken")
    with pytest.raises(DockwireError, match="'noend' has no docker endpoint"):
        context_host("noend")
    with pytest.raises(DockwireError, match="'badurl': bad Docker host 'http://h'"):
        context_host("badurl")
