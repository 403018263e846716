using BottleneckPipeline.Cache;
using BottleneckPipeline.Index;

namespace BottleneckPipeline.Tests.Audit;

/// <summary>The exclude list (the file dataset.exclude will name) against the real index of <see cref="AuditedFlowers"/>.</summary>
[Collection(AuditedFlowersCollection.Name)]
public sealed class ExcludeListTests(AuditedFlowers flowers)
{
    [Fact]
    public void Paths_and_content_ids_resolve_to_the_contents_they_name()
    {
        var all = flowers.First.Set!.All;
        var copyId = all.ContentIds[Array.IndexOf(all.RelativePaths, AuditedFlowers.Copy)];
        var report = flowers.Report();
        var text = $"""
            # the data doctor's suspects, checked by a person
            {report.LabelIssues[0].Path}
            ./{AuditedFlowers.Moved}   # moved on purpose

            {copyId.ToUpperInvariant()}
            roses/no_such_photo.jpg
            {new string('0', 64)}
            """;
        var list = ExcludeList.Parse(text);
        Assert.Equal([report.LabelIssues[0].Path, AuditedFlowers.Moved, "roses/no_such_photo.jpg"], list.Paths);
        Assert.Equal([copyId, new string('0', 64)], list.ContentIds);

        using var db = IndexDb.Open(flowers.Config.IndexPath, create: false);
        var (ids, unknown) = list.Resolve(db);
        Assert.Contains(all.ContentIds[Array.IndexOf(all.RelativePaths, AuditedFlowers.Moved)], ids);
        Assert.Contains(all.ContentIds[Array.IndexOf(all.RelativePaths, report.LabelIssues[0].Path)], ids);
        Assert.Contains(copyId, ids);
        Assert.Equal(["roses/no_such_photo.jpg", new string('0', 64)], unknown);
    }

    [Fact]
    public void The_hash_ignores_order_repetition_and_comments()
    {
        var a = ExcludeList.Parse("a/1.jpg\nb/2.jpg\n");
        var b = ExcludeList.Parse("# note\nb/2.jpg\na/1.jpg\na/1.jpg # again\n");
        Assert.Equal(a.Hash, b.Hash);
        Assert.NotEqual(a.Hash, ExcludeList.Parse("a/1.jpg\n").Hash);
        Assert.Equal(0, ExcludeList.Parse("\n# only comments\n").Count);
    }
}
