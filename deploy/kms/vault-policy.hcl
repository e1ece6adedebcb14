# The KMS plugin's Vault policy: encrypt and decrypt with one Transit key, nothing else.
# (Not `read` on transit/keys/kubernetes: the plugin learns the key version from the ciphertext.)
path "transit/encrypt/kubernetes" {
  capabilities = ["update"]
}
path "transit/decrypt/kubernetes" {
  capabilities = ["update"]
}
