"""The cache: one place that reads and writes every file under the cache root (``$TRANSFERLAB_CACHE``).

- ``entries``: validated reads and atomic writes of cache entries, each with a manifest (size and
  digest); a damaged entry is deleted and computed again with one notice; a read-only cache is read;
- ``manage``: ``cache_info`` and ``clear_cache`` (``transferlab cache info|clear``);
- ``cli``: the door, with the commands' typed options.
"""

from transferlab._package import lazy_package

lazy_package(__name__, {
    "cache_info": ".manage",
    "clear_cache": ".manage",
})
