using BottleneckPipeline.Backbones;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Index;

namespace BottleneckPipeline.Extract;

/// <summary>
/// Which decoder the policy will choose for each indexed image, known before any decode from the
/// size and format Ingest's header probe stored in the index.
/// </summary>
internal static class IndexedDecodePaths
{
    /// <summary>Whether the policy sends most of these images to libvips (Extract then decodes on every core).</summary>
    public static bool MostlyLibvips(BackboneSpec spec, IndexDb db, IReadOnlyList<ImageWork> todo)
    {
        if (!spec.Decode.UsesLibvips || todo.Count == 0) return false;
        var left = LeftToImageSharp(spec, db);
        return todo.Count(w => !left.Contains(w.ContentId)) * 2 > todo.Count;
    }

    /// <summary>Content ids whose every file the policy decodes with ImageSharp.</summary>
    public static HashSet<string> LeftToImageSharp(BackboneSpec spec, IndexDb db)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        var libvips = new HashSet<string>(StringComparer.Ordinal);
        using var cmd = db.Command("SELECT content_id, width, height, format FROM files;");
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var id = r.GetString(0);
            var pixels = r.GetInt64(1) * r.GetInt64(2);
            if (spec.Decode.ChoosesLibvips(r.GetString(3) == "jpeg", pixels)) libvips.Add(id);
            else set.Add(id);
        }
        set.ExceptWith(libvips);
        return set;
    }
}
