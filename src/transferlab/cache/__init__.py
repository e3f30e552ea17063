"""The cache: one place that reads and writes every file under the cache root (``$TRANSFERLAB_CACHE``).

- ``entries``: validated reads and atomic writes of cache entries, each with a manifest (size and
  digest); a damaged entry is deleted and computed again with one notice; a read-only cache is read;
- ``manage``: ``cache_info`` and ``clear_cache`` (``transferlab cache info|clear``);
- ``config``: the typed options of ``cache info|clear`` and the kinds of entry; ``cli``: the door.
"""

from transferlab._package import lazy_package

lazy_package(__name__, {
    "cache_info": ".manage",
    "clear_cache": ".manage",
})
