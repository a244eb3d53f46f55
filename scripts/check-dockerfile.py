"""Checks the Dockerfile's structure without a Docker engine: a multi-stage build whose final
stage is slim Debian with CA certificates, runs as uid 65532, ships the binary at
/usr/local/bin/laminar, and bakes in no secrets. Exits non-zero with the reasons otherwise.

    python3 scripts/check-dockerfile.py [Dockerfile]
"""
import re
import sys

from dockerfile_parse import DockerfileParser

path = sys.argv[1] if len(sys.argv) > 1 else "Dockerfile"
parser = DockerfileParser(path=path)
instructions = parser.structure
stages = [i for i in instructions if i["instruction"] == "FROM"]
final = instructions[instructions.index(stages[-1]):] if stages else []
problems = []

def final_has(instruction, pattern):
    return any(i["instruction"] == instruction and re.search(pattern, i["value"]) for i in final)

if len(stages) < 2:
    problems.append("not a multi-stage build")
if stages and not re.search(r"debian:\S*slim", stages[-1]["value"]):
    problems.append("the final stage is not a slim Debian image")
if not final_has("RUN", r"ca-certificates"):
    problems.append("the final stage does not install ca-certificates")
if not final_has("COPY", r"--from=\S+ .*laminar /usr/local/bin/laminar$"):
    problems.append("the binary is not copied to /usr/local/bin/laminar from the build stage")
if not final_has("USER", r"^65532(:65532)?$"):
    problems.append("the final stage does not run as uid 65532")
if not final_has("ENTRYPOINT", r'^\["laminar"\]$'):
    problems.append('ENTRYPOINT is not ["laminar"]')
if not final_has("CMD", r'^\["run", "--config", "/etc/laminar/laminar.yaml"\]$'):
    problems.append('CMD is not ["run", "--config", "/etc/laminar/laminar.yaml"]')
if not final_has("EXPOSE", r"^8080$"):
    problems.append("port 8080 is not exposed")
if not final_has("VOLUME", r"/var/lib/laminar"):
    problems.append("the data directory is not a volume")
for i in instructions:
    if i["instruction"] in ("ENV", "ARG") and re.search(r"(?i)(token|password|secret|key)\s*=", i["value"]):
        problems.append(f"line {i['startline'] + 1}: a secret baked into the image: {i['value']}")
    if i["instruction"] in ("COPY", "ADD") and re.search(r"(?i)(id_rsa|id_ed25519|\.pem|known_hosts|config\.json)", i["value"]):
        problems.append(f"line {i['startline'] + 1}: copies a key or credentials file: {i['value']}")
try:
    ignored = open(".dockerignore").read().split()
except OSError:
    ignored = []
if "target/" not in ignored and "target" not in ignored:
    problems.append(".dockerignore does not leave out target/")

for problem in problems:
    print(f"{path}: {problem}")
sys.exit(1 if problems else 0)
