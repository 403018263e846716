using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Ingest speed: the 1500 flowers indexed from scratch (page cache warm) and re-ingested unchanged,
/// in process; then a generated tree of tiny PNGs (100000, or 10000 with --quick) indexed by the
/// built Ingest executable, first time and unchanged, with its peak RSS.
/// </summary>
public sealed class IngestBench : IBenchmark
{
    private const double ColdGoal = 1000;       // images/s, first ingest of the flowers
    private const double WarmGoal = 20000;      // images/s, unchanged re-ingest of the flowers
    private const double TreeReingestGoal = 10; // seconds, unchanged re-ingest of the big tree

    public string Name => "ingest";

    public void Run(BenchContext ctx)
    {
        var dir = Path.Combine(ctx.WorkDir, "ingest");
        Directory.CreateDirectory(dir);
        Flowers(ctx, dir);
        Tree(ctx, dir, ctx.Quick ? 10_000 : 100_000);
    }

    private void Flowers(BenchContext ctx, string dir)
    {
        // Warm the page cache so the figure measures ingest, not the disk.
        var files = Directory.EnumerateFiles(ctx.Flowers, "*", SearchOption.AllDirectories).ToList();
        foreach (var f in files) File.ReadAllBytes(f);
        var index = Path.Combine(dir, "flowers.sqlite");
        DeleteIndex(index);
        var dataset = new DatasetConfig { Root = ctx.Flowers };

        var sw = Stopwatch.StartNew();
        IngestResult first;
        using (var db = IndexDb.Open(index)) first = Ingestor.Run(dataset, db);
        var cold = first.Files.Count / sw.Elapsed.TotalSeconds;
        ctx.Record(Name, "flowers first ingest", cold, "img/s",
            $"{cold / ColdGoal:0.00}x goal ({ColdGoal} img/s); {first.Files.Count} images, {sw.Elapsed.TotalSeconds:0.00} s");

        sw.Restart();
        IngestResult again;
        using (var db = IndexDb.Open(index)) again = Ingestor.Run(dataset, db);
        var warm = again.Files.Count / sw.Elapsed.TotalSeconds;
        ctx.Record(Name, "flowers unchanged re-ingest", warm, "img/s", $"{warm / WarmGoal:0.00}x goal ({WarmGoal} img/s); {again.ProbedFiles} files reopened");
    }

    private void Tree(BenchContext ctx, string dir, int count)
    {
        var root = Path.Combine(dir, $"tree-{count}");
        var sw = Stopwatch.StartNew();
        var generated = GenerateTree(root, count);
        if (generated) ctx.Note(Name, $"generated {count} tiny PNGs in {sw.Elapsed.TotalSeconds:0.0} s (kept in {root})");

        var workspace = Path.Combine(dir, $"tree-{count}-workspace");
        DeleteIndex(Path.Combine(workspace, "index.sqlite"));
        var config = Path.Combine(dir, $"tree-{count}.yaml");
        File.WriteAllText(config, $"dataset:\n  root: '{root}'\nworkspace: '{workspace}'\n");
        var exe = ctx.StageBin("Ingest");
        if (!File.Exists(exe)) throw new FileNotFoundException($"build first (make build): {exe}");

        var first = BenchContext.RunProcess(exe, $"--config \"{config}\"");
        if (first.ExitCode != 0) throw new InvalidOperationException($"Ingest failed: {first.Output}");
        ctx.Record(Name, $"{count} files first ingest (process)", first.Seconds, "s", $"{count / first.Seconds:0} img/s; peak RSS {first.PeakRssMb:0} MB");

        var again = BenchContext.RunProcess(exe, $"--config \"{config}\"");
        if (again.ExitCode != 0) throw new InvalidOperationException($"Ingest failed: {again.Output}");
        ctx.Record(Name, $"{count} files unchanged re-ingest (process)", again.Seconds, "s",
            $"{TreeReingestGoal / again.Seconds:0.00}x better than goal (< {TreeReingestGoal} s); " +
            $"{count / again.Seconds:0} img/s; peak RSS {again.PeakRssMb:0} MB");
        ctx.Record(Name, $"{count} files peak RSS", Math.Max(first.PeakRssMb, again.PeakRssMb), "MB");
    }

    private static void DeleteIndex(string index)
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            if (File.Exists(index + suffix)) File.Delete(index + suffix);
    }

    /// <summary>Creates count 1x1 PNGs, each a different colour (so different bytes), in 10 classes of
    /// 100-file folders; returns false when a complete tree is already there.</summary>
    private static bool GenerateTree(string root, int count)
    {
        var done = Path.Combine(root, ".complete");
        if (File.Exists(done)) return false;
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        Parallel.For(0, count / 100, folder =>
        {
            var path = Path.Combine(root, $"class{folder % 10}", $"f{folder:0000}");
            Directory.CreateDirectory(path);
            for (var i = 0; i < 100; i++)
            {
                var n = folder * 100 + i;
                File.WriteAllBytes(Path.Combine(path, $"{n:000000}.png"), OnePixelPng((byte)n, (byte)(n >> 8), (byte)(n >> 16)));
            }
        });
        File.WriteAllText(done, "");
        return true;
    }

    private static byte[] OnePixelPng(byte r, byte g, byte b)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, 1);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), 1);
        ihdr[8] = 8; ihdr[9] = 2;
        var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Fastest, leaveOpen: true)) z.Write([0, r, g, b]);
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", raw.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, System.IO.Hashing.Crc32.HashToUInt32(typed));
        s.Write(word);
    }
}
