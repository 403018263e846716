// Bottleneck cache format (version BPVECS01).
//
//   cache.dir/<backbone fingerprint>/seg-<pid>-<random>.bpv   one append-only segment per writer
//   cache.dir/<backbone fingerprint>/seg-<pid>-<random>.r<first>-<last>.bpv
//                                     the same, from a writer of one id range only (an Extract shard)
//
// A segment is the 8-byte magic "BPVECS01" followed by records:
//
//   int32 LE  payload length L
//   L bytes   MessagePack array [bin8 content id (32 raw SHA-256 bytes), fixint bits (32 or 16),
//             bin vector (float32 or float16 values, little-endian)]
//   uint64 LE XxHash3 of the length field and the payload
//
// Why this shape:
// - Each writer process appends only to its own segment (pid + random name), so several processes
//   can fill one shared cache.dir at once without locks. Readers read every segment; a content id
//   found twice is harmless (the first valid record wins). A reader of one range (a shard) reads
//   only the segments whose range meets it: many shards do not each read the whole cache.
// - A writer fsyncs after each batch, so kill -9 loses at most the batch in flight. A record cut off
//   by a crash, or damaged later, fails its length or checksum test and is never read back as a
//   vector: reading that segment stops there. The next writer-side open truncates such a torn tail,
//   but only in segments it can lock exclusively, i.e. whose writer is gone (a live writer holds a
//   shared lock on its own segment), and only after scanning the tail again under that lock (the
//   writer may have completed it in between).
// - The fingerprint names the folder, so a different model, preprocessing, resize or tensor never
//   meets these vectors; the content id is the key, so paths, labels and splits do not matter.
using System.Buffers;
using System.Runtime.InteropServices;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Cache;

/// <summary>
/// The vectors cached for one backbone fingerprint, read from every segment of its folder.
/// Open with <c>loadVectors: false</c> to learn only which content ids are present (Extract's need);
/// with vectors, <see cref="TryGet(string, Span{float})"/> returns each as float32. <see cref="OpenOnDisk"/>
/// keeps only where each vector lies and reads it from its segment on every TryGet.
/// </summary>
public sealed class BottleneckCache
{
    public string Fingerprint { get; }
    public string Folder { get; }
    /// <summary>Values per vector; 0 while the cache is empty.</summary>
    public int Dimension { get; private set; }
    public int Count => _index.Count;
    /// <summary>The content keys of the vectors held, in no particular order.</summary>
    public IEnumerable<ContentKey> Keys => _index.Keys;
    public CacheReadStats Stats { get; } = new();

    private readonly Dictionary<ContentKey, Slot> _index = [];
    private IReadOnlySet<ContentKey>? _only;
    private bool _loadVectors;
    private bool _vectorsOnDisk;
    /// <summary>The segments that on-disk slots point into, by index.</summary>
    private readonly List<string> _segmentPaths = [];
    private VectorVisitor? _onVector;
    private Action<string>? _beforeRepairLock;
    private IdRange _within = IdRange.All;
    /// <summary>Where the valid records read so far end, per segment file: a refresh resumes there.</summary>
    private readonly Dictionary<string, long> _readUpTo = new(StringComparer.Ordinal);
    private readonly List<byte[]> _arena = [];
    private int _arenaUsed;
    private const int ArenaChunk = 16 << 20;

    /// <summary>Where a vector is: in segment <c>Segment</c> at byte <c>Offset</c> (Segment >= 0), else in arena
    /// chunk <c>Chunk</c> at <c>Offset</c> (Chunk >= 0), else not kept (both -1).</summary>
    private readonly record struct Slot(int Chunk, long Offset, int Bytes, byte Bits, int Segment = -1);

    private BottleneckCache(string folder, string fingerprint)
    {
        Folder = folder;
        Fingerprint = fingerprint;
    }

    public static string FolderFor(string cacheDir, string fingerprint) => Path.Combine(cacheDir, fingerprint);

    /// <param name="cacheDir">cache.dir (the folder holding one subfolder per fingerprint).</param>
    /// <param name="fingerprint">Backbone fingerprint.</param>
    /// <param name="loadVectors">Keep the vectors in memory for <see cref="TryGet(string, Span{float})"/>.</param>
    /// <param name="repair">Truncate torn tails of segments whose writer is gone.</param>
    /// <param name="only">When given, keep vectors only for these ids (others are known by key alone),
    /// so looking up a few images does not hold the whole cache in memory.</param>
    /// <param name="onVector">Called with each id's vector (the record that wins, once per id) as it
    /// is read: a consumer can keep the vectors its own way while the cache keeps only the keys.</param>
    /// <param name="within">Read only segments that may hold ids of this range (see <see cref="IdRange"/>);
    /// ids outside it may then be missing.</param>
    public static BottleneckCache Open(string cacheDir, string fingerprint, bool loadVectors = true, bool repair = false,
                                       IReadOnlySet<ContentKey>? only = null, VectorVisitor? onVector = null, IdRange? within = null) =>
        Open(cacheDir, fingerprint, loadVectors, repair, only, onVector, within, beforeRepairLock: null);

    /// <summary>
    /// The cache with only each wanted vector's place in memory: <see cref="TryGet(ContentKey, Span{float})"/>
    /// reads it from its segment (a positioned read, served by the page cache after the first). For
    /// caches larger than a process should hold, e.g. FineTune's cut activations (100-200 KB each).
    /// Every record was checked when the segments were scanned, and segments are append-only, so the
    /// bytes read later are the ones checked.
    /// </summary>
    public static BottleneckCache OpenOnDisk(string cacheDir, string fingerprint, IReadOnlySet<ContentKey> only, bool repair = false)
    {
        var cache = new BottleneckCache(FolderFor(cacheDir, fingerprint), fingerprint) { _only = only, _loadVectors = true, _vectorsOnDisk = true };
        cache.ReadNewRecords(repair);
        return cache;
    }

    /// <param name="beforeRepairLock">For tests: runs between a torn segment's scan and the repair's
    /// exclusive lock, where another writer may commit.</param>
    internal static BottleneckCache Open(string cacheDir, string fingerprint, bool loadVectors, bool repair, IReadOnlySet<ContentKey>? only,
                                         VectorVisitor? onVector, IdRange? within, Action<string>? beforeRepairLock)
    {
        var cache = new BottleneckCache(FolderFor(cacheDir, fingerprint), fingerprint)
        {
            _only = only,
            _loadVectors = loadVectors,
            _onVector = onVector,
            _within = within ?? IdRange.All,
            _beforeRepairLock = beforeRepairLock,
        };
        cache.ReadNewRecords(repair);
        return cache;
    }

    /// <summary>
    /// Reads what other writers appended since this cache was opened or last refreshed: new
    /// segments, and new records at the end of known ones (segments are append-only, so only their
    /// new bytes are read). Returns how many ids became known. A shard calls this before each piece
    /// of work so that it skips what an overlapping writer has just embedded.
    /// </summary>
    public int Refresh()
    {
        var before = _index.Count;
        ReadNewRecords(repair: false);
        return _index.Count - before;
    }

    public bool Contains(string contentId) => _index.ContainsKey(ContentKey.FromHex(contentId));

    public bool Contains(ContentKey key) => _index.ContainsKey(key);

    public bool TryGet(string contentId, Span<float> dest) => TryGet(ContentKey.FromHex(contentId), dest);

    /// <summary>Copies the vector as float32 into <paramref name="dest"/> (at least <see cref="Dimension"/> long).</summary>
    public bool TryGet(ContentKey key, Span<float> dest)
    {
        if (!_index.TryGetValue(key, out var slot)) return false;
        if (slot.Segment >= 0) return ReadFromSegment(slot, dest);
        if (slot.Chunk < 0)
            throw new InvalidOperationException(
                "this vector was not loaded: the cache was opened with loadVectors: false, or with an 'only' set that does not hold it");
        Widen(_arena[slot.Chunk].AsSpan((int)slot.Offset, slot.Bytes), slot.Bits, dest);
        return true;
    }

    private void Widen(ReadOnlySpan<byte> bytes, int bits, Span<float> dest)
    {
        if (bits == 32) MemoryMarshal.Cast<byte, float>(bytes).CopyTo(dest);
        else System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), dest[..Dimension]);
    }

    // Opened per read: no handle outlives the call, and concurrent readers each have their own.
    private bool ReadFromSegment(Slot slot, Span<float> dest)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(slot.Bytes);
        try
        {
            var path = _segmentPaths[slot.Segment];
            var read = TransientIo.Run(() =>
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                return RandomAccess.Read(handle, buffer.AsSpan(0, slot.Bytes), slot.Offset);
            });
            if (read < slot.Bytes)
                throw new IOException($"{path} ends before the vector at byte {slot.Offset} that it held when it was read: was the cache changed by hand?");
            Widen(buffer.AsSpan(0, slot.Bytes), slot.Bits, dest);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public float[]? Get(string contentId)
    {
        var v = new float[Dimension];
        return TryGet(contentId, v) ? v : null;
    }

    private void ReadNewRecords(bool repair)
    {
        if (!TransientIo.Run(() => Directory.Exists(Folder))) return;
        // Name order: the same files always give the same "first valid wins" choice.
        foreach (var file in TransientIo.Run(() => Directory.GetFiles(Folder, "*.bpv")).Order(StringComparer.Ordinal))
            if (IdRange.OfSegment(file).Intersects(_within)) ReadSegment(file, repair);
    }

    private void ReadSegment(string path, bool repair)
    {
        var known = _readUpTo.TryGetValue(path, out var from);
        if (!known) Stats.Segments++;
        long validEnd;
        bool torn;
        try
        {
            using var fs = TransientIo.Run(() =>
                new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan));
            if (known && fs.Length <= from) return; // nothing appended since the last read
            (validEnd, torn) = Scan(fs, from);
        }
        catch (FileNotFoundException)
        {
            return; // listed, then removed by a repairer: it held no valid record
        }
        _readUpTo[path] = validEnd;
        if (!torn) return;
        Stats.TornSegments++;
        if (!repair) return;
        _beforeRepairLock?.Invoke(path);
        if (TryRepair(path, validEnd)) Stats.RepairedSegments++;
    }

    /// <summary>Reads records from <paramref name="from"/> until the end or the first bad one;
    /// returns where the valid prefix ends.</summary>
    /// <param name="from">0 for a segment not read before (its header is checked), else where its
    /// valid records read so far end.</param>
    private (long ValidEnd, bool Torn) Scan(FileStream fs, long from)
    {
        if (from < SegmentFormat.HeaderSize)
        {
            fs.Position = 0;
            Span<byte> header = stackalloc byte[SegmentFormat.HeaderSize];
            if (fs.Length < SegmentFormat.HeaderSize || fs.ReadAtLeast(header, header.Length, false) < header.Length
                || !header.SequenceEqual(SegmentFormat.Magic))
                return (0, true);
            from = SegmentFormat.HeaderSize;
        }
        else fs.Position = from;

        var buffer = ArrayPool<byte>.Shared.Rent(4 << 20);
        try
        {
            int start = 0, end = 0;
            var consumedInFile = from;
            var eof = false;
            var mustRefill = false;
            while (true)
            {
                if (!eof && (mustRefill || (end - start) < buffer.Length / 2))
                {
                    mustRefill = false;
                    // Slide the unparsed bytes to the front and refill.
                    Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                    end -= start;
                    start = 0;
                    // A failed read leaves the position where it was, so it can simply be tried again.
                    var n = TransientIo.Run(() => fs.Read(buffer, end, buffer.Length - end));
                    if (n == 0) eof = true;
                    end += n;
                    Stats.BytesRead += n;
                }
                if (start == end && eof) return (consumedInFile, false);
                var outcome = SegmentFormat.TryDecode(buffer.AsSpan(start, end - start), out var record, out var used, eof);
                if (outcome == SegmentFormat.Outcome.NeedMore)
                {
                    if (end - start == buffer.Length)
                    {
                        // A record larger than the buffer: grow it (bounded by MaxPayload).
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        Buffer.BlockCopy(buffer, start, bigger, 0, end - start);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                        end -= start;
                        start = 0;
                    }
                    else if (eof) return (consumedInFile, true);
                    mustRefill = true;
                    continue;
                }
                if (outcome == SegmentFormat.Outcome.Corrupt)
                {
                    Stats.RejectedRecords++;
                    return (consumedInFile, true);
                }
                // The vector's place in the file, for on-disk slots: the record starts at consumedInFile.
                var vectorAt = consumedInFile + System.Runtime.CompilerServices.Unsafe.ByteOffset(
                    ref buffer[start], ref MemoryMarshal.GetReference(record.Vector));
                if (!Add(record, fs.Name, vectorAt))
                {
                    Stats.RejectedRecords++;
                    return (consumedInFile, true);
                }
                start += used;
                consumedInFile += used;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private bool Add(SegmentFormat.Record record, string segment, long vectorAt)
    {
        var dim = record.Dimension;
        if (Dimension == 0) Dimension = dim;
        else if (dim != Dimension) return false; // one fingerprint, one dimension: anything else is damage
        Stats.Records++;
        if (_index.ContainsKey(record.Key))
        {
            Stats.Duplicates++;
            return true;
        }
        _onVector?.Invoke(record.Key, record.Vector, record.Bits);
        if (!_loadVectors || (_only is not null && !_only.Contains(record.Key)))
        {
            _index[record.Key] = new Slot(-1, 0, 0, (byte)record.Bits);
            return true;
        }
        var bytes = record.Vector;
        if (_vectorsOnDisk)
        {
            if (_segmentPaths.Count == 0 || _segmentPaths[^1] != segment) _segmentPaths.Add(segment);
            _index[record.Key] = new Slot(-1, vectorAt, bytes.Length, (byte)record.Bits, _segmentPaths.Count - 1);
            return true;
        }
        if (_arena.Count == 0 || _arenaUsed + bytes.Length > _arena[^1].Length)
        {
            _arena.Add(GC.AllocateUninitializedArray<byte>(Math.Max(ArenaChunk, bytes.Length)));
            _arenaUsed = 0;
        }
        bytes.CopyTo(_arena[^1].AsSpan(_arenaUsed));
        _index[record.Key] = new Slot(_arena.Count - 1, _arenaUsed, bytes.Length, (byte)record.Bits);
        _arenaUsed += bytes.Length;
        return true;
    }

    /// <summary>
    /// Cuts a torn tail off a segment whose writer is gone; true when something was cut. A live writer
    /// holds a shared lock on its segment, so the exclusive open fails and the segment is left alone.
    /// The writer may have finished the torn record, committed more and exited between the scan and
    /// this lock, so the tail is scanned again under the lock (its records are learnt too) and only
    /// what is still bad then is cut: nothing a writer made durable is lost.
    /// </summary>
    private bool TryRepair(string path, long validEnd)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            var (end, torn) = Scan(fs, validEnd);
            _readUpTo[path] = end; // what the rescan learnt is known now: a refresh resumes after it
            if (!torn) return false;
            if (end < SegmentFormat.HeaderSize) File.Delete(path); // under the lock still: no writer can have come back to it
            else
            {
                fs.SetLength(end);
                fs.Flush(flushToDisk: true);
            }
            Stats.Damaged.Add((path, end));
            return true;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}

/// <summary>Receives one cached vector as stored: <paramref name="bits"/> 32 (float32) or 16 (float16) little-endian values.</summary>
public delegate void VectorVisitor(ContentKey key, ReadOnlySpan<byte> vector, int bits);

/// <summary>What reading the cache found, for reports and tests.</summary>
public sealed class CacheReadStats
{
    public int Segments { get; set; }
    public long Records { get; set; }
    public long Duplicates { get; set; }
    public int RejectedRecords { get; set; }
    public int TornSegments { get; set; }
    public int RepairedSegments { get; set; }
    /// <summary>The segments repaired: each was cut at the byte where its first bad record began (0: removed).</summary>
    public List<(string Path, long ValidEnd)> Damaged { get; } = [];
    public long BytesRead { get; set; }
}
