using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Extract;

/// <summary>How the extract pipeline ends when something fails while inference is running.</summary>
public class ExtractPipelineErrorTests
{
    /// <summary>
    /// The second image cannot be read (its path is a folder: a real read error, not a missing
    /// file). Its read waits until the lane is busy with the first batch, and the lane stays in its
    /// commit until that error has stopped the pipeline, so it meets the cancellation the error
    /// caused when it next waits: the read error, not "interrupted", must come out.
    /// </summary>
    [Fact]
    public void A_read_error_while_a_lane_is_busy_is_reported_not_an_interruption()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 1, perClass: 1);
        var config = TestIndex.Config(t.Path, data, extra: "extract:\n  sessions: 1\n");
        var good = Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Single();
        var unreadable = Directory.CreateDirectory(t["data/unreadable.jpg"]).FullName;
        ImageWork[] items =
        [
            new(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(good))), good, "good.jpg"),
            new(new string('0', 64), unreadable, "unreadable.jpg"),
        ];

        var spec = BackboneFactory.Resolve(config);
        using var lanes = BackboneSession.CreateLanes(spec, config.Extract);
        using var laneBusy = new ManualResetEventSlim();
        using var stopped = new ManualResetEventSlim();
        var preparer = new ImagePreparer(spec, config.Dataset.MaxPixels)
        {
            ReadFile = path =>
            {
                if (path == unreadable) Assert.True(laneBusy.Wait(TimeSpan.FromMinutes(1)), "the lane never started");
                return File.ReadAllBytes(path);
            },
        };
        var pipeline = new ExtractPipeline(spec, lanes.Sessions, preparer, batchSize: 1, decodeWorkers: 1) { OnStopped = stopped.Set };
        using var writer = new CacheWriter(config.CacheDir, spec.Fingerprint, config.Cache.Precision);

        var e = Assert.Throws<InputException>(() => pipeline.Run(items, writer, (_, _) =>
        {
            laneBusy.Set();
            Assert.True(stopped.Wait(TimeSpan.FromMinutes(1)), "the read error never stopped the pipeline");
        }, null, CancellationToken.None));
        Assert.Contains(unreadable, e.Message, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.BadInput, e.ExitCode);
        // The batch committed before the error is kept.
        Assert.NotNull(BottleneckCache.Open(config.CacheDir, spec.Fingerprint).Get(items[0].ContentId));
    }

    [Fact]
    public void A_cancelled_run_is_an_interruption()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 1, perClass: 3);
        var config = TestIndex.Config(t.Path, data, extra: "extract:\n  batch_size: 1\n  sessions: 1\n");
        var items = Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => new ImageWork(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))), f, Path.GetFileName(f))).ToArray();
        var spec = BackboneFactory.Resolve(config);
        using var lanes = BackboneSession.CreateLanes(spec, config.Extract);
        var pipeline = ExtractPipeline.For(spec, lanes, config);
        using var writer = new CacheWriter(config.CacheDir, spec.Fingerprint, config.Cache.Precision);
        using var cancel = new CancellationTokenSource();

        // Cancelled while the first vector is being committed: that batch is kept, the rest is not run.
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Run(items, writer, (_, _) => cancel.Cancel(), null, cancel.Token));
        var cache = BottleneckCache.Open(config.CacheDir, spec.Fingerprint);
        Assert.Equal(1, items.Count(i => cache.Get(i.ContentId) is not null));
    }
}
