"""Makes the encrypted-hotkey fixtures under tests/wallets/ with the real
`bittensor-wallet` package (PyPI), the library btcli uses:

    python3 -m venv /tmp/btw && /tmp/btw/bin/pip install bittensor-wallet==4.1.1
    /tmp/btw/bin/python tests/wallets/generate.py

Writes one wallet, `fixture`, holding the same hotkey four times:
  hotkeys/plain   unencrypted JSON (the twin the others must match)
  hotkeys/nacl    $NACL (argon2i + secretbox), password in PASSWORD below
  hotkeys/ansible `$ANSIBLE_VAULT`, the package's "legacy" format, which nexis refuses
(the package can no longer write the older Fernet `gAAAAA...` format; the tests make
that header by hand)
and expected.json with the SS58 address and the password. The nonce and salt parts are
random, so each run writes different bytes for the same key; the tests only need
one run's output, committed.
"""

import json
import os

from bittensor_wallet import Keyfile, Keypair
from bittensor_wallet.keyfile import legacy_encrypt_keyfile_data, serialized_keypair_to_keyfile_data

PASSWORD = "correct horse battery staple 7!"
# The public Substrate development phrase: a test key, never use it for anything real.
# (A phrase, not a seed: this version of the package writes a hex seed given to
# create_from_seed into secretSeed unconverted, making a file it cannot read back.)
PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"

here = os.path.dirname(os.path.abspath(__file__))
hotkeys = os.path.join(here, "fixture", "hotkeys")
os.makedirs(hotkeys, exist_ok=True)
keypair = Keypair.create_from_mnemonic(PHRASE)

Keyfile(os.path.join(hotkeys, "plain")).set_keypair(keypair, encrypt=False, overwrite=True)
Keyfile(os.path.join(hotkeys, "nacl")).set_keypair(keypair, encrypt=True, overwrite=True, password=PASSWORD)
legacy = legacy_encrypt_keyfile_data(serialized_keypair_to_keyfile_data(keypair), PASSWORD)
with open(os.path.join(hotkeys, "ansible"), "wb") as f:
    f.write(bytes(legacy))

# Check what was written with the package's own reader.
nacl = Keyfile(os.path.join(hotkeys, "nacl"))
assert nacl.is_encrypted()
assert nacl.get_keypair(password=PASSWORD).ss58_address == keypair.ss58_address
assert Keyfile(os.path.join(hotkeys, "plain")).get_keypair().ss58_address == keypair.ss58_address

with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump({"ss58": keypair.ss58_address, "password": PASSWORD}, f, indent=2)
    f.write("\n")
print(keypair.ss58_address)
