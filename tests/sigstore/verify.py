#!/usr/bin/env python3
"""A second opinion: sigstore-python (PyPI `sigstore`) judges the same material laminar does.

    verify.py ROOT MATERIAL DIGEST IDENTITY ISSUER

MATERIAL is a bundle `material.py sign --format bundle|attest` printed, checked as a DSSE
statement about DIGEST. Prints `trusted` or `refused: <why>`. (cosign 2's `.sig` signatures
carry only a signed entry timestamp, no inclusion proof, which sigstore-python does not take.)
"""

import json
import sys

from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import policy
from sigstore.verify.verifier import Verifier


def main():
    root, material, digest, identity, issuer = sys.argv[1:6]
    verifier = Verifier(trusted_root=TrustedRoot.from_file(root))
    wanted = policy.Identity(identity=identity, issuer=issuer)
    with open(material) as f:
        parts = json.load(f)
    try:
        _, statement = verifier.verify_dsse(Bundle.from_json(json.dumps(parts)), wanted)
        subjects = json.loads(statement)["subject"]
        algorithm, hexdigest = digest.split(":", 1)
        if not any(s["digest"].get(algorithm) == hexdigest for s in subjects):
            raise ValueError("the statement is about another digest")
    except Exception as error:  # every failure is a refusal, as in laminar
        print(f"refused: {error}")
        return
    print("trusted")


if __name__ == "__main__":
    main()
