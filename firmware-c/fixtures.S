/* The firmware fixtures, byte for byte (firmware/fixtures/), in flash. */
    .section .rodata.fixtures, "a"
    .macro fixture name, file
    .global \name, \name\()_end
    .balign 4
\name:
    .incbin "\file"
\name\()_end:
    .endm
    fixture fx_device_key, "device_key.bin"
    fixture fx_vendor_key, "vendor_key.bin"
    fixture fx_anchor, "anchor.bin"
    fixture fx_validators, "validators.bin"
    fixture fx_header, "header.bin"
    fixture fx_cert, "cert.bin"
    fixture fx_record, "record.bin"
    fixture fx_proof, "proof.bin"
    fixture fx_cmd_owner, "cmd_owner.bin"
    fixture fx_cmd_owner2, "cmd_owner2.bin"
    fixture fx_cmd_grantee, "cmd_grantee.bin"
    fixture fx_cmd_stranger, "cmd_stranger.bin"
    fixture fx_cmd_grantee_max, "cmd_grantee_max.bin"
    fixture fx_cmd_owner3, "cmd_owner3.bin"
    fixture fx_manifest, "manifest.bin"
    fixture fx_manifest_downgrade, "manifest_downgrade.bin"
    fixture fx_now, "now.bin"
    .section .note.GNU-stack,"",%progbits
