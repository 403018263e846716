using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Cache;

public class BottleneckCacheTests
{
    private const string Fp = "fingerprint0000000001";

    private static string Id(int i) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("image " + i)));

    private static float[] Vector(int i, int dim = 16) => [.. Enumerable.Range(0, dim).Select(k => (float)Math.Sin(i * 31 + k) * 10)];

    private static string WriteRecords(string dir, IEnumerable<int> ids, VectorPrecision precision = VectorPrecision.Float32, string fp = Fp)
    {
        using var w = new CacheWriter(dir, fp, precision);
        foreach (var i in ids) w.Append(Id(i), Vector(i));
        w.Commit();
        return w.SegmentPath!;
    }

    [Fact]
    public void Float32_round_trip_is_exact()
    {
        using var t = new TempDir();
        WriteRecords(t.Path, Enumerable.Range(0, 50));
        var cache = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(50, cache.Count);
        Assert.Equal(16, cache.Dimension);
        var v = new float[16];
        for (var i = 0; i < 50; i++)
        {
            Assert.True(cache.TryGet(Id(i), v));
            Assert.Equal(Vector(i), v);
        }
        Assert.False(cache.TryGet(Id(999), v));
    }

    [Fact]
    public void Float16_round_trip_is_within_half_precision()
    {
        using var t = new TempDir();
        var segment = WriteRecords(t.Path, Enumerable.Range(0, 20), VectorPrecision.Float16);
        var cache = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(20, cache.Count);
        for (var i = 0; i < 20; i++)
        {
            var got = cache.Get(Id(i))!;
            var want = Vector(i);
            for (var k = 0; k < want.Length; k++) Assert.Equal((float)(Half)want[k], got[k]);
        }
        // Half the vector bytes: the float16 segment is smaller than the float32 one by 20 * 16 * 2 bytes.
        var f32 = WriteRecords(t["f32"], Enumerable.Range(0, 20));
        Assert.Equal(20 * 16 * 2, new FileInfo(f32).Length - new FileInfo(segment).Length);
    }

    [Fact]
    public void Torn_tail_is_never_read_and_is_truncated_by_a_repairing_open()
    {
        using var t = new TempDir();
        var segment = WriteRecords(t.Path, Enumerable.Range(0, 5));
        var full = new FileInfo(segment).Length;
        // kill -9 in the middle of a write: the last record is cut short.
        using (var fs = new FileStream(segment, FileMode.Open)) fs.SetLength(full - 10);

        var readOnly = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(4, readOnly.Count);
        Assert.False(readOnly.Contains(Id(4)));
        Assert.Equal(1, readOnly.Stats.TornSegments);
        Assert.Equal(full - 10, new FileInfo(segment).Length); // a plain read changes nothing

        var repairing = BottleneckCache.Open(t.Path, Fp, repair: true);
        Assert.Equal(1, repairing.Stats.RepairedSegments);
        Assert.True(new FileInfo(segment).Length < full - 10);

        var after = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(0, after.Stats.TornSegments);
        Assert.Equal(4, after.Count);
        Assert.Equal(Vector(3), after.Get(Id(3)));
    }

    [Fact]
    public void Flipped_byte_rejects_the_record_instead_of_returning_a_wrong_vector()
    {
        using var t = new TempDir();
        var segment = WriteRecords(t.Path, Enumerable.Range(0, 3));
        var bytes = File.ReadAllBytes(segment);
        var recordSize = (bytes.Length - 8) / 3;
        // A byte inside the second record's vector.
        bytes[8 + recordSize + recordSize / 2] ^= 0x40;
        File.WriteAllBytes(segment, bytes);

        var cache = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(Vector(0), cache.Get(Id(0)));
        Assert.False(cache.Contains(Id(1)));
        Assert.True(cache.Stats.RejectedRecords >= 1);
    }

    [Fact]
    public void Segment_of_a_live_writer_is_not_truncated()
    {
        using var t = new TempDir();
        using var live = new CacheWriter(t.Path, Fp, VectorPrecision.Float32);
        live.Append(Id(1), Vector(1));
        live.Commit();
        // What a reader sees while the live writer is halfway through its next write.
        using (var half = new FileStream(live.SegmentPath!, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
            half.Write([0x40, 0, 0, 0, 0x93, 0xc4]);
        var before = new FileInfo(live.SegmentPath!).Length;

        var cache = BottleneckCache.Open(t.Path, Fp, repair: true);
        Assert.Equal(1, cache.Count);
        Assert.Equal(1, cache.Stats.TornSegments);
        Assert.Equal(0, cache.Stats.RepairedSegments);
        Assert.Equal(before, new FileInfo(live.SegmentPath!).Length);
    }

    /// <summary>One framed record, as a writer appends it.</summary>
    private static byte[] Record(int i)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        SegmentFormat.Encode(ContentKey.FromHex(Id(i)), Vector(i), VectorPrecision.Float32, new System.Buffers.ArrayBufferWriter<byte>(), output);
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void A_repair_keeps_what_a_writer_committed_between_the_scan_and_the_truncation()
    {
        using var t = new TempDir();
        var folder = BottleneckCache.FolderFor(t.Path, Fp);
        Directory.CreateDirectory(folder);
        var segment = Path.Combine(folder, "seg-1-writer.bpv");
        var second = Record(2);
        // What a repairing reader sees while the segment's writer is halfway through record 2.
        File.WriteAllBytes(segment, [.. SegmentFormat.Magic, .. Record(1), .. second.AsSpan(0, second.Length / 2)]);

        // Between the reader's scan and its exclusive lock, the writer finishes record 2, commits
        // record 3 (fsync) and exits, as CacheWriter does: append under a shared lock.
        var writerRan = false;
        void WriterFinishes(string path)
        {
            if (path != segment) return;
            var writer = new Thread(() =>
            {
                using var fs = new FileStream(segment, FileMode.Append, FileAccess.Write, FileShare.Read);
                fs.Write(second.AsSpan(second.Length / 2));
                fs.Write(Record(3));
                fs.Flush(flushToDisk: true);
            });
            writer.Start();
            writer.Join();
            writerRan = true;
        }
        var repairing = BottleneckCache.Open(t.Path, Fp, loadVectors: true, repair: true, only: null, onVector: null, within: null,
            beforeRepairLock: WriterFinishes);
        Assert.True(writerRan);
        Assert.Equal(0, repairing.Stats.RepairedSegments);
        Assert.Equal(3, repairing.Count); // the repairer learnt the records it found under the lock

        var after = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(0, after.Stats.TornSegments);
        Assert.Equal(3, after.Count);
        Assert.Equal(Vector(2), after.Get(Id(2)));
        Assert.Equal(Vector(3), after.Get(Id(3)));
    }

    [Fact]
    public async Task Two_writers_on_one_cache_dir_at_once_both_succeed()
    {
        using var t = new TempDir();
        var start = new Barrier(2);
        var tasks = new[] { 0, 1 }.Select(w => Task.Run(() =>
        {
            using var writer = new CacheWriter(t.Path, Fp, VectorPrecision.Float32);
            start.SignalAndWait();
            for (var i = 0; i < 200; i++)
            {
                writer.Append(Id(w * 1000 + i), Vector(w * 1000 + i));
                if (i % 8 == 7) writer.Commit();
            }
            // Both also write one shared id: duplicates are harmless.
            writer.Append(Id(-1), Vector(-1));
        })).ToArray();
        await Task.WhenAll(tasks);

        var cache = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(2, Directory.GetFiles(cache.Folder, "*.bpv").Length);
        Assert.Equal(401, cache.Count);
        Assert.Equal(1, cache.Stats.Duplicates);
        Assert.Equal(0, cache.Stats.RejectedRecords);
        Assert.Equal(Vector(1199), cache.Get(Id(1199)));
        Assert.Equal(Vector(-1), cache.Get(Id(-1)));
    }

    [Fact]
    public void Another_fingerprint_misses_the_cache()
    {
        using var t = new TempDir();
        WriteRecords(t.Path, [1, 2, 3]);
        Assert.Equal(3, BottleneckCache.Open(t.Path, Fp).Count);
        var other = BottleneckCache.Open(t.Path, "fingerprint0000000002");
        Assert.Equal(0, other.Count);
        Assert.False(other.Contains(Id(1)));
    }

    [Fact]
    public void Keys_only_open_knows_presence_but_holds_no_vectors()
    {
        using var t = new TempDir();
        WriteRecords(t.Path, [7]);
        var cache = BottleneckCache.Open(t.Path, Fp, loadVectors: false);
        Assert.True(cache.Contains(Id(7)));
        Assert.Throws<InvalidOperationException>(() => cache.TryGet(Id(7), new float[16]));
    }

    [Fact]
    public void An_only_set_loads_just_those_vectors()
    {
        using var t = new TempDir();
        WriteRecords(t.Path, [1, 2, 3]);
        var cache = BottleneckCache.Open(t.Path, Fp, only: new HashSet<ContentKey> { ContentKey.FromHex(Id(2)) });
        Assert.Equal(3, cache.Count);
        Assert.Equal(Vector(2), cache.Get(Id(2)));
        Assert.True(cache.Contains(Id(1)));
        Assert.Throws<InvalidOperationException>(() => cache.TryGet(Id(1), new float[16]));
    }

    [Fact]
    public void On_disk_open_reads_each_wanted_vector_from_its_segment_as_a_loaded_open_returns_it()
    {
        using var t = new TempDir();
        // Two segments, float32 and float16, and records big enough to span the scanner's buffer refills.
        using (var w = new CacheWriter(t.Path, Fp, VectorPrecision.Float32))
        {
            foreach (var i in Enumerable.Range(0, 40)) w.Append(Id(i), Vector(i, 40_000));
            w.Commit();
        }
        using (var w = new CacheWriter(t.Path, Fp, VectorPrecision.Float16))
        {
            foreach (var i in Enumerable.Range(40, 40)) w.Append(Id(i), Vector(i, 40_000));
            w.Commit();
        }
        var wanted = Enumerable.Range(0, 80).Where(i => i % 3 != 0).Select(i => ContentKey.FromHex(Id(i))).ToHashSet();
        var loaded = BottleneckCache.Open(t.Path, Fp, only: wanted);
        var onDisk = BottleneckCache.OpenOnDisk(t.Path, Fp, wanted);
        Assert.Equal(loaded.Count, onDisk.Count);
        Assert.Equal(40_000, onDisk.Dimension);
        var (a, b) = (new float[40_000], new float[40_000]);
        foreach (var i in Enumerable.Range(0, 80).Where(i => i % 3 != 0))
        {
            Assert.True(loaded.TryGet(Id(i), a));
            Assert.True(onDisk.TryGet(Id(i), b));
            Assert.Equal(a, b);
        }
        Assert.Throws<InvalidOperationException>(() => onDisk.TryGet(Id(3), b)); // known, not wanted
        Assert.False(onDisk.TryGet(Id(999), b));
    }

    [Fact]
    public void A_refresh_reads_what_other_writers_appended_since_and_nothing_twice()
    {
        using var t = new TempDir();
        using var live = new CacheWriter(t.Path, Fp, VectorPrecision.Float32);
        live.Append(Id(1), Vector(1));
        live.Commit();
        var cache = BottleneckCache.Open(t.Path, Fp, loadVectors: false);
        Assert.Equal(1, cache.Count);

        // The live writer goes on in its segment, another writes a new segment, one id twice.
        live.Append(Id(2), Vector(2));
        live.Commit();
        WriteRecords(t.Path, [3, 4, 2]);
        // And the live writer is halfway through a third batch: not a record yet.
        using (var half = new FileStream(live.SegmentPath!, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
            half.Write([0x40, 0, 0, 0, 0x93]);

        Assert.Equal(3, cache.Refresh());
        Assert.Equal(4, cache.Count);
        Assert.Equal(5, cache.Stats.Records); // ids 1, 2, 3, 4, 2: each record read once over open and refresh
        Assert.Equal(1, cache.Stats.Duplicates);
        Assert.Equal(0, cache.Refresh());
        Assert.Equal(5, cache.Stats.Records);
    }

    [Fact]
    public void A_visitor_sees_each_ids_winning_vector_once_as_stored()
    {
        using var t = new TempDir();
        WriteRecords(t.Path, [1, 2]);
        WriteRecords(t.Path, [2, 3], VectorPrecision.Float16);
        var seen = new Dictionary<string, (int Bits, float[] Vector)>();
        var cache = BottleneckCache.Open(t.Path, Fp, loadVectors: false, onVector: (key, bytes, bits) =>
        {
            var v = new float[bytes.Length / (bits / 8)];
            if (bits == 32) System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).CopyTo(v);
            else System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(bytes), v);
            seen.Add(key.ToHex(), (bits, v));
        });
        var loaded = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(3, seen.Count);
        Assert.Equal(1, cache.Stats.Duplicates);
        foreach (var (id, (_, v)) in seen) Assert.Equal(loaded.Get(id), v); // the same record wins both ways
    }

    [Fact]
    public void A_reader_of_one_range_skips_the_segments_of_other_ranges()
    {
        using var t = new TempDir();
        var ids = Enumerable.Range(0, 40).ToList();
        var low = new IdRange(0, ulong.MaxValue / 2);
        var high = new IdRange(ulong.MaxValue / 2 + 1, ulong.MaxValue);
        bool In(IdRange r, int i) => r.Contains(IdRange.Position(ContentKey.FromHex(Id(i))));
        foreach (var r in new[] { low, high })
        {
            using var w = new CacheWriter(t.Path, Fp, VectorPrecision.Float32, r);
            foreach (var i in ids.Where(i => In(r, i))) w.Append(Id(i), Vector(i));
            Assert.Throws<ArgumentException>(() => w.Append(Id(ids.First(i => !In(r, i))), Vector(0))); // never outside its range
        }
        WriteRecords(t.Path, [100]); // a whole Extract's segment: any range may find ids there

        var all = BottleneckCache.Open(t.Path, Fp);
        Assert.Equal(41, all.Count);
        Assert.Equal(3, all.Stats.Segments);
        var lowOnly = BottleneckCache.Open(t.Path, Fp, within: new IdRange(0, 1000));
        Assert.Equal(2, lowOnly.Stats.Segments); // the low range's and the untagged one
        Assert.All(ids.Where(i => In(low, i)), i => Assert.Equal(Vector(i), lowOnly.Get(Id(i))));
        Assert.All(ids.Where(i => In(high, i)), i => Assert.False(lowOnly.Contains(Id(i))));
    }
}
