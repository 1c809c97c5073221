"""
VTM-23.13 encoder/decoder with the pmp-vvc partition guide (private; use pmp_vvc)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['BUILD_ID', 'CuQuery', 'Decision', 'Guide', 'MapGuide', 'SplitMode', 'VTM_VERSION', 'run_decoder', 'run_encoder']
class SplitMode:
    """
    Test modes a guide rules on (bit flags)
    
    Members:
    
      NO_SPLIT
    
      QT
    
      BT_H
    
      BT_V
    
      TT_H
    
      TT_V
    
      ALL
    """
    ALL: typing.ClassVar[SplitMode]
    BT_H: typing.ClassVar[SplitMode]
    BT_V: typing.ClassVar[SplitMode]
    NO_SPLIT: typing.ClassVar[SplitMode]
    QT: typing.ClassVar[SplitMode]
    TT_H: typing.ClassVar[SplitMode]
    TT_V: typing.ClassVar[SplitMode]
    __members__: typing.ClassVar[dict[str, SplitMode]]
    @typing.overload
    def __and__(self, other: SplitMode) -> int:
        ...
    @typing.overload
    def __and__(self, other: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    @typing.overload
    def __eq__(self, other: SplitMode) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    @typing.overload
    def __ge__(self, other: SplitMode) -> bool:
        ...
    @typing.overload
    def __ge__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    @typing.overload
    def __gt__(self, other: SplitMode) -> bool:
        ...
    @typing.overload
    def __gt__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    def __invert__(self) -> typing.Any:
        ...
    @typing.overload
    def __le__(self, other: SplitMode) -> bool:
        ...
    @typing.overload
    def __le__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    @typing.overload
    def __lt__(self, other: SplitMode) -> bool:
        ...
    @typing.overload
    def __lt__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: SplitMode) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    @typing.overload
    def __or__(self, other: SplitMode) -> int:
        ...
    @typing.overload
    def __or__(self, other: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    @typing.overload
    def __rand__(self, other: SplitMode) -> int:
        ...
    @typing.overload
    def __rand__(self, other: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def __repr__(self) -> str:
        ...
    @typing.overload
    def __ror__(self, other: SplitMode) -> int:
        ...
    @typing.overload
    def __ror__(self, other: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    @typing.overload
    def __rxor__(self, other: SplitMode) -> int:
        ...
    @typing.overload
    def __rxor__(self, other: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @typing.overload
    def __xor__(self, other: SplitMode) -> int:
        ...
    @typing.overload
    def __xor__(self, other: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class CuQuery:
    """
    A CU node of the split search (luma units for both trees)
    """
    chroma: bool
    def __init__(self) -> None:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def bt_depth(self) -> int:
        ...
    @bt_depth.setter
    def bt_depth(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def height(self) -> int:
        ...
    @height.setter
    def height(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def mt_depth(self) -> int:
        ...
    @mt_depth.setter
    def mt_depth(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def qt_depth(self) -> int:
        ...
    @qt_depth.setter
    def qt_depth(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def split_series(self) -> int:
        ...
    @split_series.setter
    def split_series(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def width(self) -> int:
        ...
    @width.setter
    def width(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def x(self) -> int:
        ...
    @x.setter
    def x(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def y(self) -> int:
        ...
    @y.setter
    def y(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class Decision:
    """
    Modes to veto and to force for one CU (SplitMode bit masks)
    """
    def __init__(self, veto: typing.SupportsInt | typing.SupportsIndex = 0, force: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    @property
    def force(self) -> int:
        ...
    @property
    def veto(self) -> int:
        ...
class Guide:
    """
    Base class of partition guides; override decide(cu), and optionally begin_picture(luma, bit_depth, qp, poc), end_ctu(x, y)
    """
    def __init__(self) -> None:
        ...
class MapGuide(Guide):
    """
    Partition-map guide (C++). source(luma, bit_depth, qp, poc, chroma) -> maps with luma and chroma (qt (B,4,8,8), mtt (B,3,3,16,16), direction (B,3,3,16,16) class probabilities, blocks in raster order) and search_states (pmp_vvc.predictor.PictureMaps); None: maps come from set_maps.
    """
    def __init__(self, source: typing.Any = None, level: typing.SupportsInt | typing.SupportsIndex = 2, threshold: typing.SupportsFloat | typing.SupportsIndex = 0.0, edge_blocks: bool = False, qt_threshold: typing.SupportsFloat | typing.SupportsIndex = -1.0, chroma_level: typing.SupportsInt | typing.SupportsIndex = 0, chroma_threshold: typing.SupportsFloat | typing.SupportsIndex = -1.0, threshold_by_qp: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]] = [], branch_threshold: typing.SupportsFloat | typing.SupportsIndex = -1.0, side_thresholds: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]] = []) -> None:
        """
        qt_threshold: the threshold at nodes where QT is legal (negative: the same as threshold). chroma_level 1..3: the chroma maps rule the chroma tree's QT and MTT layers 1..k with chroma_threshold (negative: threshold); 0: VTM's chroma search. threshold_by_qp: [(qp, threshold)] knots (increasing QPs): the threshold of each picture, linear in its slice QP between them and constant beyond; empty: threshold. branch_threshold: the threshold below a split the maps did not imply (a candidate the threshold let in at an ancestor; negative: none). side_thresholds: [(side, threshold)]: the threshold at the luma nodes of that shorter side, in place of the others.
        """
    def candidates(self, cu: CuQuery) -> typing.Any:
        """
        (implied SplitMode bit, {mode name: probability}) of a node, or None if not ruled on.
        """
    def clear_maps(self) -> None:
        ...
    def decide(self, cu: CuQuery) -> Decision:
        """
        The decision for one CU node (as the encoder asks it).
        """
    def search_state(self, cu: CuQuery) -> typing.Any:
        """
        (relatedValid, bestISPIntraMode, ispPredModeVal bits, bestDCT2NonISPCost, bestNonDCT2Cost, costBudget) of a node in the search-state table, or None.
        """
    def set_chroma_maps(self, width: typing.SupportsInt | typing.SupportsIndex, height: typing.SupportsInt | typing.SupportsIndex, qt: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], mtt: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], direction: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> None:
        """
        Set the chroma tree's maps (the same layouts, luma cell units).
        """
    def set_limits(self, luma: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], chroma: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]) -> None:
        """
        The split limits (max_bt, max_tt, max_mtt_depth, min_qt; luma samples) of each tree, which the encoder sets from the picture (defaults: the AI cfg, chroma (64, 32, 3, 8)).
        """
    def set_maps(self, width: typing.SupportsInt | typing.SupportsIndex, height: typing.SupportsInt | typing.SupportsIndex, qt: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], mtt: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], direction: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> None:
        """
        Set the maps of a width x height picture (probabilities, copied).
        """
    def set_search_states(self, rows: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> None:
        """
        Set the search-state table (K,11): x, y, w, h, split series, relatedValid, bestISPIntraMode, ispPredModeVal bits, bestDCT2NonISPCost, bestNonDCT2Cost, costBudget of each luma node visit of the replayed encode (cleared at every picture; a source may return it as a fourth element).
        """
    @property
    def branch_threshold(self) -> float:
        ...
    @property
    def chroma_level(self) -> int:
        ...
    @property
    def chroma_threshold(self) -> float:
        ...
    @property
    def edge_blocks(self) -> bool:
        ...
    @property
    def has_chroma_maps(self) -> bool:
        ...
    @property
    def has_maps(self) -> bool:
        ...
    @property
    def level(self) -> int:
        ...
    @property
    def qt_threshold(self) -> float:
        ...
    @property
    def side_thresholds(self) -> list[tuple[int, float]]:
        ...
    @property
    def threshold(self) -> float:
        ...
    @property
    def threshold_by_qp(self) -> list[tuple[int, float]]:
        ...
def run_decoder(args: collections.abc.Sequence[str]) -> int:
    """
    Run VTM's DecoderApp with args (argv[0] first); returns its exit code.
    """
def run_encoder(args: collections.abc.Sequence[str], guide: typing.Any = None, guide_factory: typing.Any = None) -> int:
    """
    Run VTM's EncoderApp with args (argv[0] first); returns its exit code. The log goes to stdout.
    """
BUILD_ID: str = 'vtm23.13-a7cfd0410732bd84'
VTM_VERSION: str = '23.13'
