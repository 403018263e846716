using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Extract;

/// <summary>Extract --shard: which images a shard takes, its locks, and shards plus a finishing run against one plain run.</summary>
public class ShardTests
{
    private static string Id(int i) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("image " + i)));

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Shards_of_one_count_split_the_ids_and_halves_nest_quarters()
    {
        var ids = Enumerable.Range(0, 4000).Select(Id).ToList();
        foreach (var n in new[] { 1, 3, 4, 7 })
        {
            var shards = Enumerable.Range(0, n).Select(i => new ExtractShard(i, n)).ToList();
            Assert.All(ids, id => Assert.Single(shards, s => s.Contains(id)));
            // Uniform: no shard is far from its share (4000 / n, binomial spread).
            Assert.All(shards, s => Assert.InRange(ids.Count(s.Contains), 4000 / n * 0.85, 4000 / n * 1.15));
        }
        // Ranges, not a modulo: shard 0/2 is exactly shards 0/4 and 1/4.
        Assert.All(ids, id => Assert.Equal(new ExtractShard(0, 2).Contains(id), new ExtractShard(0, 4).Contains(id) || new ExtractShard(1, 4).Contains(id)));
    }

    [Fact]
    public void A_shards_range_holds_exactly_its_ids_and_the_ranges_tile_every_position()
    {
        foreach (var n in new[] { 1, 3, 4, 7, 1000 })
        {
            var ranges = Enumerable.Range(0, n).Select(i => new ExtractShard(i, n).Range).ToList();
            Assert.Equal(0UL, ranges[0].First);
            Assert.Equal(ulong.MaxValue, ranges[^1].Last);
            for (var i = 1; i < n; i++) Assert.Equal(ranges[i - 1].Last + 1, ranges[i].First); // no gap, no overlap
            for (var i = 0; i < n; i++)
            {
                var shard = new ExtractShard(i, n);
                Assert.Equal(i, shard.ShardOf(ranges[i].First));
                Assert.Equal(i, shard.ShardOf(ranges[i].Last));
            }
        }
        // The index query's bounds select the same ids as the shard does.
        var shard1 = new ExtractShard(1, 3);
        var (low, high) = shard1.Range.HexBounds;
        foreach (var id in Enumerable.Range(0, 3000).Select(Id))
            Assert.Equal(shard1.Contains(id), string.CompareOrdinal(id, low) >= 0 && string.CompareOrdinal(id, high) < 0);
        Assert.Null(new ExtractShard(2, 3).Range.HexBounds.High);
    }

    [Fact]
    public void The_shard_comes_from_the_options_or_the_schedulers_environment()
    {
        Assert.Equal(new ExtractShard(2, 5), ExtractShard.Resolve("2/5", null, Env()));
        Assert.Null(ExtractShard.Resolve(null, null, Env()));
        Assert.Null(ExtractShard.Resolve("none", null, Env(("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "4"))));
        // A Slurm array task, its index counted from the array's first.
        Assert.Equal(new ExtractShard(1, 4),
            ExtractShard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "0"))));
        Assert.Equal(new ExtractShard(0, 4),
            ExtractShard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "5"))));
        // With --shards the task id is the index as it is: a task resubmitted alone keeps its shard.
        Assert.Equal(new ExtractShard(2, 4),
            ExtractShard.Resolve(null, 4, Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("SLURM_ARRAY_TASK_MIN", "2"))));
        Assert.Equal(new ExtractShard(3, 8), ExtractShard.Resolve(null, 8, Env(("JOB_COMPLETION_INDEX", "3"))));

        Assert.Contains("--shards N", Assert.Throws<ConfigException>(() => ExtractShard.Resolve(null, null, Env(("JOB_COMPLETION_INDEX", "3")))).Message);
        Assert.Contains("outside 0..3", Assert.Throws<ConfigException>(() => ExtractShard.Resolve("4/4", null, Env())).Message);
        Assert.Contains("outside 0..3", Assert.Throws<ConfigException>(() => ExtractShard.Resolve(null, 4, Env(("SLURM_ARRAY_TASK_ID", "4")))).Message);
        Assert.Contains("I/N", Assert.Throws<ConfigException>(() => ExtractShard.Resolve("3", null, Env())).Message);
        Assert.Contains("disagree", Assert.Throws<ConfigException>(() => ExtractShard.Resolve("1/4", 8, Env())).Message);
        Assert.Contains("needs this task's index", Assert.Throws<ConfigException>(() => ExtractShard.Resolve(null, 4, Env())).Message);
    }

    [Fact]
    public void A_bad_shard_is_a_config_error_with_exit_code_2()
    {
        using var t = new TempDir();
        var config = TestIndex.Config(t["run"], Directory.CreateDirectory(t["data"]).FullName);
        var r = StageProcess.Run("Extract", "--config", config.SourcePath, "--shard", "5/4");
        Assert.Equal(ExitCodes.BadConfig, r.ExitCode);
        Assert.Contains("extract: error: --shard 5/4: shard index 5 is outside 0..3", r.StdErr);
        var k8s = StageProcess.RunWithEnvironment("Extract", new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "1" }, "--config", config.SourcePath);
        Assert.Equal(ExitCodes.BadConfig, k8s.ExitCode);
        Assert.Contains("JOB_COMPLETION_INDEX=1", k8s.StdErr);
    }

    [Fact]
    public void Overlapping_ranges_exclude_each_other_until_released()
    {
        using var t = new TempDir();
        using var a = HashRangeLock.Open(t.Path, "fp");
        using var b = HashRangeLock.Open(t.Path, "fp");
        Assert.True(a.TryLock(1000, 2000));
        Assert.False(b.TryLock(2000, 3000)); // shares position 2000
        Assert.False(b.TryLock(0, ulong.MaxValue));
        Assert.True(b.TryLock(2004, 3000)); // the next byte: positions map four to a byte
        a.Unlock(1000, 2000);
        Assert.True(b.TryLock(0, 1999));
        b.Dispose();
        Assert.True(a.TryLock(0, ulong.MaxValue)); // closing the holder released everything it held
    }

    [Fact]
    public void Shards_share_the_workspace_and_keep_every_other_run_out()
    {
        using var t = new TempDir();
        using var first = WorkspaceLock.AcquireShared(t.Path, "extract shard 0/2", TimeSpan.Zero);
        using var second = WorkspaceLock.AcquireShared(t.Path, "extract shard 1/2", TimeSpan.Zero);
        var refused = Assert.Throws<LockHeldException>(() => WorkspaceLock.Acquire(t.Path, "train-head", TimeSpan.Zero));
        Assert.Contains("extract shard", refused.Message);
        first.Dispose();
        second.Dispose();
        using var stage = WorkspaceLock.Acquire(t.Path, "train-head", TimeSpan.Zero);
        Assert.Throws<LockHeldException>(() => WorkspaceLock.AcquireShared(t.Path, "extract shard 0/2", TimeSpan.Zero));
    }

    [Fact]
    public void Two_shards_and_a_finishing_run_equal_one_plain_run_and_carry_the_quarantine()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 4);
        File.WriteAllBytes(Path.Combine(data, Directory.GetDirectories(data).Order().First(), "broken.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);

        var plain = TestIndex.Config(t["plain"], data);
        ExtractSummary reference;
        using (var db = IndexDb.Open(plain.IndexPath))
        {
            TestIndex.Fill(db, data);
            reference = ExtractStage.Run(plain, db);
        }
        Assert.Equal(8, reference.Extracted);
        Assert.Equal(1, reference.Quarantined);

        var sharded = TestIndex.Config(t["sharded"], data);
        using (var db = IndexDb.Open(sharded.IndexPath)) TestIndex.Fill(db, data);
        var shards = new[] { new ExtractShard(0, 2), new ExtractShard(1, 2) }.Select(s => ShardRun.Run(sharded, s)).ToList();
        // More shards than images: most ranges hold none, which is no error.
        var empty = Enumerable.Range(0, 1000).Select(i => new ExtractShard(i, 1000)).First(s => !Directory.GetFiles(data, "*", SearchOption.AllDirectories)
            .Any(f => s.Contains(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))))));
        Assert.Equal(0, ShardRun.Run(sharded, empty).Assigned);
        File.Delete(ShardSummary.PathFor(sharded, empty));
        Assert.Equal(9, shards.Sum(s => s.Assigned));
        Assert.Equal(8, shards.Sum(s => s.Extracted));
        var broken = Assert.Single(shards.SelectMany(s => s.Quarantined));
        Assert.EndsWith("broken.jpg", broken.RelPath);
        Assert.False(File.Exists(ArtifactPaths.ExtractReport(sharded)), "a shard writes no shared report");
        Assert.Equal(2, Directory.GetFiles(ShardSummary.Folder(sharded)).Length);

        using (var db = IndexDb.Open(sharded.IndexPath))
        {
            var finish = ExtractStage.Run(sharded, db);
            Assert.Equal(0, finish.Extracted);
            Assert.Equal(8, finish.Reused);
            Assert.Equal(1, finish.Quarantined);
            Assert.Equal(0, finish.Decoded); // the broken image is known quarantined: not decoded again
            Assert.Equal(reference.InputsHash, finish.InputsHash);
            Assert.True(ExtractStage.Run(sharded, db).UpToDate);
        }
        var report = JsonNode.Parse(File.ReadAllText(ArtifactPaths.ExtractReport(sharded)))!;
        Assert.Equal(2, report["shards"]!["summaries"]!.GetValue<int>());
        Assert.Equal(8, report["shards"]!["extracted"]!.GetValue<int>());
        Assert.False(Directory.Exists(ShardSummary.Folder(sharded))); // summaries absorbed, their folder gone

        var expected = BottleneckCache.Open(plain.CacheDir, reference.Fingerprint);
        var actual = BottleneckCache.Open(sharded.CacheDir, reference.Fingerprint);
        Assert.Equal(0, actual.Stats.Duplicates);
        // Each shard's segment names its range, so a shard reads its own share of the cache only.
        Assert.Equal(
            new[] { new ExtractShard(0, 2).Range, new ExtractShard(1, 2).Range },
            Directory.GetFiles(actual.Folder, "*.bpv").Select(IdRange.OfSegment).OrderBy(r => r.First));
        Assert.Equal(expected.Keys.Select(k => k.ToHex()).Order(), actual.Keys.Select(k => k.ToHex()).Order());
        foreach (var key in expected.Keys)
            Assert.True(expected.Get(key.ToHex())!.AsSpan().SequenceEqual(actual.Get(key.ToHex())), $"vector of {key} differs");
    }

    [Fact]
    public async Task A_shard_waits_for_a_writer_holding_its_range_and_embeds_only_what_that_writer_left()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 4);
        var plain = TestIndex.Config(t["plain"], data);
        ExtractSummary reference;
        using (var db = IndexDb.Open(plain.IndexPath))
        {
            TestIndex.Fill(db, data);
            reference = ExtractStage.Run(plain, db);
        }
        var expected = BottleneckCache.Open(plain.CacheDir, reference.Fingerprint);

        var config = TestIndex.Config(t["sharded"], data);
        List<string> ids;
        using (var db = IndexDb.Open(config.IndexPath))
        {
            TestIndex.Fill(db, data);
            ids = [.. ExtractStage.ReadExamples(db, data).Select(e => e.ContentId)];
        }
        // Another writer holds the whole range when the shard comes to it, embeds three of the images, then lets go.
        var other = HashRangeLock.Open(config.CacheDir, reference.Fingerprint);
        Assert.True(other.TryLock(0, ulong.MaxValue));
        using var waiting = new ManualResetEventSlim();
        var shard = Task.Run(() => ShardRun.Run(config, new ExtractShard(0, 1), log: _ => waiting.Set()));
        Assert.True(waiting.Wait(TimeSpan.FromMinutes(2)) || shard.IsCompleted, "the shard never said it waits");
        using (var writer = new CacheWriter(config.CacheDir, reference.Fingerprint, config.Cache.Precision))
        {
            foreach (var id in ids.Take(3)) writer.Append(id, expected.Get(id)!);
            writer.Commit();
        }
        other.Dispose();
        var summary = await shard;

        Assert.Equal(8, summary.Assigned);
        Assert.Equal(0, summary.Reused);
        Assert.Equal(1, summary.WaitedPieces);
        Assert.Equal(3, summary.EmbeddedByOthers);
        Assert.Equal(5, summary.Extracted);
        var cache = BottleneckCache.Open(config.CacheDir, reference.Fingerprint);
        Assert.Equal(8, cache.Count);
        Assert.Equal(0, cache.Stats.Duplicates);
        foreach (var id in ids) Assert.True(expected.Get(id)!.AsSpan().SequenceEqual(cache.Get(id)), $"vector of {id} differs");
    }
}
