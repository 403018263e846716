using System.Runtime.InteropServices;

namespace BottleneckPipeline.Runtime;

/// <summary>
/// Where a path really is, with every symbolic link resolved, and whether one folder lies inside
/// another. Folder links can make two different spellings one place: the guards that keep the
/// pipeline out of a user's files (the workspace check, the dataset walk) compare real paths.
/// </summary>
internal static class RealPath
{
    /// <summary>The canonical path of an existing file or folder, or null when it cannot be resolved (broken link, loop, gone).</summary>
    public static string? Of(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            var full = Path.GetFullPath(path);
            if (!Path.Exists(full)) return null;
            return Directory.Exists(full)
                ? Directory.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full
                : File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
        }
        var p = realpath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { free(p); }
    }

    /// <summary>
    /// The real path of a path that may not exist yet (a workspace before its first run): its
    /// nearest existing ancestor resolved, with the missing rest appended as written.
    /// </summary>
    public static string Canonical(string path)
    {
        var full = Trim(Path.GetFullPath(path));
        var missing = new Stack<string>();
        var existing = full;
        while (!Path.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
        {
            missing.Push(Path.GetFileName(existing));
            existing = parent;
        }
        var resolved = Of(existing) ?? existing;
        while (missing.TryPop(out var name)) resolved = Path.Join(resolved, name);
        return Trim(resolved);
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> or lies anywhere below it (both absolute, compared as written).</summary>
    public static bool IsSameOrInside(string path, string folder)
    {
        path = Trim(path);
        folder = Trim(folder);
        if (string.Equals(path, folder, StringComparison.Ordinal)) return true;
        var prefix = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        return path.StartsWith(prefix, StringComparison.Ordinal);
    }

    /// <summary>Without a trailing separator, except for the file-system root itself.</summary>
    private static string Trim(string path) => Path.TrimEndingDirectorySeparator(path);

    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr realpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc")]
    private static extern void free(IntPtr p);
}
