"""Geometry helpers: metric CRS choice, projected coordinates, adjacency graphs.

Everything here works on plain arrays of shapely geometries or coordinates so that the
optimisation core never needs geodata. Distances are in kilometres [km].
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer

#: Albers equal-area conic for the contiguous US (metres).
US_EQUAL_AREA = "EPSG:5070"


def choose_metric_crs(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> CRS:
    """Pick a metric CRS for points given in degrees.

    The contiguous US gets the Census Albers equal-area projection (EPSG:5070);
    anything else gets the WGS 84 UTM zone of the data's median longitude.

    Parameters
    ----------
    lon, lat : array of float
        Longitude and latitude [degrees, WGS 84].
    """
    lon_c, lat_c = float(np.median(lon)), float(np.median(lat))
    in_conus = (-125.0 <= lon_c <= -66.0) and (24.0 <= lat_c <= 50.0)
    if in_conus:
        return CRS.from_user_input(US_EQUAL_AREA)
    zone = int((lon_c + 180.0) // 6.0) % 60 + 1
    epsg = (32600 if lat_c >= 0 else 32700) + zone
    return CRS.from_epsg(epsg)


def project_km(lon: NDArray[np.float64], lat: NDArray[np.float64], crs: CRS) -> NDArray[np.float64]:
    """Project WGS 84 degrees to planar coordinates in kilometres, shape (n, 2) [km]."""
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.column_stack([x, y]) / 1000.0


def queen_edges(geoms: NDArray[np.object_]) -> NDArray[np.int64]:
    """Queen contiguity: pairs of polygons that share at least one point.

    Returns
    -------
    array of int, shape (E, 3)
        ``(i, j, 0)`` with ``i < j``; the third column marks added links (0 here).
    """
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    pairs = np.column_stack([left[keep], right[keep]]).astype(np.int64)
    return np.column_stack([pairs, np.zeros(len(pairs), dtype=np.int64)])


def components(n: int, edges: NDArray[np.int64]) -> NDArray[np.int64]:
    """Connected-component label of each of ``n`` nodes (largest component first = 0)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(edges) == 0:
        labels = np.arange(n)
    else:
        data = np.ones(len(edges))
        graph = coo_matrix((data, (edges[:, 0], edges[:, 1])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels].astype(np.int64)


def connect_components(geoms: NDArray[np.object_], edges: NDArray[np.int64]) -> NDArray[np.int64]:
    """Join every island component to the main one by its shortest polygon-to-polygon link.

    Islands (San Juan WA, Nantucket MA, Dukes MA among US counties) have no queen
    neighbour; a sales territory may still include them, so each component other than the
    largest is linked, by one edge marked ``1`` in the third column, to the nearest unit
    of the component that contains the largest one.
    """
    n = len(geoms)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 3)
    while True:
        labels = components(n, edges)
        if labels.max(initial=0) == 0:
            return edges
        island = np.flatnonzero(labels == 1)
        main = np.flatnonzero(labels == 0)
        tree = shapely.STRtree(geoms[main])
        src, dst = tree.query_nearest(geoms[island], return_distance=False, all_matches=False)
        dist = shapely.distance(geoms[island][src], geoms[main][dst])
        best = int(np.argmin(dist))
        i, j = sorted((int(island[src[best]]), int(main[dst[best]])))
        edges = np.vstack([edges, [[i, j, 1]]])


def edges_from_points(xy: NDArray[np.float64], k: int = 6) -> NDArray[np.int64]:
    """A proximity graph for points without polygons: each point to its ``k`` nearest."""
    from scipy.spatial import cKDTree

    k = min(k, len(xy) - 1)
    if k <= 0:
        return np.zeros((0, 3), dtype=np.int64)
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    src = np.repeat(np.arange(len(xy)), k)
    dst = idx[:, 1:].ravel()
    pairs = np.unique(np.sort(np.column_stack([src, dst]), axis=1), axis=0)
    return np.column_stack([pairs, np.zeros(len(pairs), dtype=np.int64)]).astype(np.int64)
