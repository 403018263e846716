using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// A real full disk: a small tmpfs mounted under the test's folder (the tests run as root). A clear
/// error with exit code 3, nothing already done lost, and success once there is space again.
/// </summary>
[Trait("Category", "Faults")]
public class DiskFullTests
{
    [Fact]
    public void A_full_disk_while_writing_the_cache_keeps_earlier_vectors_and_resumes_once_there_is_space()
    {
        using var t = new TempDir();
        using var fs = SmallFileSystem.Mount(t["cachefs"], kilobytes: 24);
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 4), cacheDir: fs.Path);
        rig.RunOk("Ingest");

        var full = rig.Run("Extract");
        Assert.True(full.ExitCode == 3, $"exited {full.ExitCode}:\n{full.Output}");
        Assert.Contains("disk is full", full.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", full.StdErr, StringComparison.Ordinal);
        var fingerprint = Path.GetFileName(Assert.Single(Directory.GetDirectories(fs.Path)));
        var kept = rig.Vectors(fingerprint).Where(kv => kv.Value is not null).ToDictionary();
        Assert.NotEmpty(kept); // the batches committed before the disk filled are readable

        fs.Resize(kilobytes: 1024);
        rig.RunOk("Extract");
        var all = rig.Vectors();
        Assert.DoesNotContain(all.Values, v => v is null);
        foreach (var (id, v) in kept) Assert.True(v!.AsSpan().SequenceEqual(all[id]), $"vector {id} changed");
        // Exactly the vectors that were not durable are embedded: the kept ones are trusted, the torn tail is not.
        Assert.Equal(12 - kept.Count, rig.ExtractReport["extracted"]!.GetValue<int>());
        rig.RunOk("TrainHead");
    }

    [Fact]
    public void A_full_disk_while_writing_the_index_keeps_the_previous_index_and_resumes_once_there_is_space()
    {
        using var t = new TempDir();
        using var fs = SmallFileSystem.Mount(t["wsfs"], kilobytes: 2048);
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3);
        var indexRig = new FaultRig(t["rig"], data, workspace: fs.Path);
        indexRig.RunOk("Ingest");
        var before = indexRig.Examples();
        Assert.Equal(6, before.Count);

        TestIndex.CopyFlowers(t["more"], classes: 2, perClass: 12);
        foreach (var f in Directory.GetFiles(t["more"], "*.jpg", SearchOption.AllDirectories))
        {
            var dest = Path.Combine(data, Path.GetRelativePath(t["more"], f));
            if (!File.Exists(dest)) File.Copy(f, dest);
        }
        var filler = Path.Combine(fs.Path, "filler");
        fs.Fill(filler);

        var full = indexRig.Run("Ingest");
        Assert.True(full.ExitCode == 3, $"exited {full.ExitCode}:\n{full.Output}");
        Assert.Contains("disk is full", full.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, indexRig.Examples()); // the index still opens, as it was

        File.Delete(filler);
        indexRig.RunOk("Ingest");
        Assert.Equal(24, indexRig.Examples().Count);
    }
}
