"""The PANA security association of a session: nonces and PANA_AUTH_KEY (RFC 5191 s5.3)."""

from __future__ import annotations

import logging

from eap.keys import Secret
from pana_codecs import Avp
from pana_codecs._fast import frozen_maker

from . import crypto
from ._avps import AvpCode
from ._message import Drop, Rx
from ._session import ConfigT, SessionCore

__all__ = ["SessionKeys"]

logger = logging.getLogger(__name__)

_avp = frozen_maker(Avp)
"""Avp(code, value) without the frozen dataclass's setattr calls."""
_NONCE = AvpCode.NONCE


class SessionKeys(SessionCore[ConfigT]):
    """Nonce exchange and key derivation shared by PacSession and PaaSession (s4.1, s4.3, s5.3)."""

    __slots__ = ()

    def _nonce_length(self) -> int:
        configured = self._config.nonce_length
        if configured is not None:
            return configured
        if self.prf_algorithm is None:
            return 20
        return crypto.default_nonce_length(self.prf_algorithm)

    def _derive_key(self, msk: Secret, key_id: int) -> Secret | None:
        """PANA_AUTH_KEY for ``key_id`` from the current nonces; None when no SA was negotiated."""
        if self.prf_algorithm is None or self.integrity_algorithm is None:
            return None
        if self._pac_nonce is None or self._paa_nonce is None:
            raise Drop("no nonces exchanged: cannot derive PANA_AUTH_KEY")
        if self._pac_nonce == self._paa_nonce:
            # OpenPANA sends the same nonce in both directions; the derivation still works
            logger.debug("sid=%#x: PaC and PAA nonces are identical", self.session_id)
        key = crypto.pana_auth_key(
            self.prf_algorithm,
            self.integrity_algorithm,
            msk,
            i_par=self._i_par,
            i_pan=self._i_pan,
            pac_nonce=self._pac_nonce,
            paa_nonce=self._paa_nonce,
            key_id=key_id,
            label=self._config.auth_label,
        )
        if self.encryption_algorithm is not None:
            self._pending_encr = crypto.encryption_keys(
                self.prf_algorithm,
                msk,
                i_par=self._i_par,
                i_pan=self._i_pan,
                pac_nonce=self._pac_nonce,
                paa_nonce=self._paa_nonce,
                key_id=key_id,
            )
        key_log = self._config.key_log
        if key_log is not None:
            # opt-in interop debugging only (STYLE 2.9)
            key_log.write(
                f"PANA_AUTH_KEY {self.session_id:08x} {key_id:08x} {key.reveal().hex()}\n"
            )
        return key

    def _take_nonce(self, rx: Rx, *, from_paa: bool) -> None:
        """Store the peer's Nonce from the first PAR/PAN of an (re-)authentication (s4.1, s4.3)."""
        if self._nonce_received:
            return
        avp = rx.msg.avp(_NONCE)
        if avp is None:
            if self.prf_algorithm is not None:
                raise Drop("first PAR/PAN of the authentication lacks a Nonce")
            return
        if from_paa:
            self._paa_nonce = avp.value
        else:
            self._pac_nonce = avp.value
        self._nonce_received = True

    def _own_nonce_avp(self, *, pac: bool) -> list[Avp]:
        if self._nonce_sent:
            return []
        nonce = self._rng(self._nonce_length())
        if pac:
            self._pac_nonce = nonce
        else:
            self._paa_nonce = nonce
        self._nonce_sent = True
        return [_avp(_NONCE, nonce)]
