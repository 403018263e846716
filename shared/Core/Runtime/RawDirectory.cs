using System.Runtime.InteropServices;
using System.Text;

namespace BottleneckPipeline.Runtime;

/// <summary>
/// A folder's entries as Linux names them: bytes, which need not be UTF-8. .NET decodes a name that
/// is not valid UTF-8 with U+FFFD in place of each bad sequence, so the path it gives back names no
/// file (a stat of it fails, and two names that differ only in their bad bytes come back the same).
/// The dataset walk lists a folder again through here when a name holds U+FFFD, to tell a real
/// U+FFFD from bytes .NET could not decode, and to name those by their bytes.
/// </summary>
internal static unsafe partial class RawDirectory
{
    /// <param name="Name">The name's bytes, as the file system holds them.</param>
    /// <param name="IsDirectory">A folder, or a link to one.</param>
    public readonly record struct Entry(byte[] Name, bool IsDirectory)
    {
        public bool IsUtf8 => System.Text.Unicode.Utf8.IsValid(Name);
        public bool IsHidden => Name.Length > 0 && Name[0] == (byte)'.';
    }

    /// <summary>The entries of <paramref name="directory"/> ('.' and '..' aside), in the order the file
    /// system gives them; null where this cannot be done (not Linux, or the folder cannot be opened).</summary>
    public static List<Entry>? List(string directory)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var dirBytes = Encoding.UTF8.GetBytes(directory);
        var dir = OpenDir(NullTerminated(dirBytes));
        if (dir == IntPtr.Zero) return null;
        var entries = new List<Entry>();
        try
        {
            while (ReadDir(dir) is var entry && entry != IntPtr.Zero)
            {
                // glibc's struct dirent on 64-bit Linux: d_ino (8 bytes), d_off (8), d_reclen (2), d_type (1), d_name.
                var type = ((byte*)entry)[18];
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)entry + 19).ToArray();
                if (name is [(byte)'.'] or [(byte)'.', (byte)'.']) continue;
                var isDirectory = type == DirectoryType || type is LinkType or UnknownType && IsDirectory(dirBytes, name);
                entries.Add(new Entry(name, isDirectory));
            }
        }
        finally
        {
            _ = CloseDir(dir);
        }
        return entries;
    }

    /// <summary>Whether the entry (followed if a link) is a folder: whether it opens as one.</summary>
    private static bool IsDirectory(byte[] parent, byte[] name)
    {
        var path = NullTerminated([.. parent, (byte)'/', .. name]);
        var dir = OpenDir(path);
        if (dir == IntPtr.Zero) return false;
        _ = CloseDir(dir);
        return true;
    }

    private static byte[] NullTerminated(byte[] bytes) => [.. bytes, 0];

    private const byte UnknownType = 0, DirectoryType = 4, LinkType = 10;

    [LibraryImport("libc", EntryPoint = "opendir", SetLastError = true)]
    private static partial IntPtr OpenDir(byte[] path);

    [LibraryImport("libc", EntryPoint = "readdir", SetLastError = true)]
    private static partial IntPtr ReadDir(IntPtr dir);

    [LibraryImport("libc", EntryPoint = "closedir", SetLastError = true)]
    private static partial int CloseDir(IntPtr dir);
}
